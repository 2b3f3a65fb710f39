# One image with the three Slipway services and the built web UI.
#   docker build -t slipway .
#   docker run slipway slipway-deployer serve --config /etc/slipway/config/deployer.yaml

FROM node:20-bookworm-slim AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked \
      -p slipway-deployer -p slipway-transitioner -p slipway-aggregator

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --home-dir /var/lib/slipway slipway
COPY --from=build /src/target/release/slipway-deployer /src/target/release/slipway-transitioner \
     /src/target/release/slipway-aggregator /usr/local/bin/
COPY --from=ui /src/ui/dist /usr/share/slipway/ui
USER 10001
WORKDIR /var/lib/slipway
EXPOSE 8080
# Every service stops cleanly on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["slipway-aggregator", "--help"]
