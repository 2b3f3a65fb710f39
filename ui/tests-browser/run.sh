#!/usr/bin/env bash
# Browser tests of the web UI against the real system: starts the playground
# (simulated cluster, example repo, deployer, transitioner, aggregator serving
# ui/dist) in a temp dir, runs tests-browser/*.test.mjs in headless Chromium,
# and always stops the playground. Builds nothing: scripts/test has already run
# `cargo build --workspace --bins` and `npm run build`.
#
#   ui/tests-browser/run.sh                  (from anywhere; exit status is the tests')
#   ui/tests-browser/run.sh NAME.test.mjs    only these test files (names in tests-browser/)
#
# Env: PLAYGROUND (binary, default $CARGO_TARGET_DIR or target/, then debug/playground), CHROMIUM (default
# /usr/bin/chromium), SLIPWAY_READY_TIMEOUT (seconds, default 120).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ui=$(dirname "$here")
root=$(dirname "$ui")
playground=${PLAYGROUND:-${CARGO_TARGET_DIR:-$root/target}/debug/playground}
timeout=${SLIPWAY_READY_TIMEOUT:-120}

fail() { echo "ui browser tests: $*" >&2; exit 1; }
[ -x "$playground" ] || fail "$playground is missing: build it first with 'cargo build --workspace --bins'"
[ -f "$ui/dist/index.html" ] || fail "$ui/dist is missing: build the UI first with 'npm run build' in ui/"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium"
[ -d "$ui/node_modules/playwright-core" ] || fail "playwright-core is not installed: run 'npm ci' in ui/"

work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-ui-tests.XXXXXX")
pid=
cleanup() {
  status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$work/playground.log" ]; then
    echo "--- last lines of the playground's log ($work/playground.log) ---" >&2
    tail -n 40 "$work/playground.log" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/playground"
"$playground" --dir "$work/playground" --ui-path "$ui/dist" --ready-json >"$work/ready.json" 2>"$work/playground.log" &
pid=$!

ready=
for _ in $(seq 1 $((timeout * 10))); do
  if [ -s "$work/ready.json" ] && head -n 1 "$work/ready.json" | grep -q '^{.*}$'; then
    ready=$(head -n 1 "$work/ready.json")
    break
  fi
  kill -0 "$pid" 2>/dev/null || fail "the playground exited before it was ready (see its log below)"
  sleep 0.1
done
[ -n "$ready" ] || fail "the playground printed no ready line within ${timeout}s"

field() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; if (!v) process.exit(1); console.log(v)' "$ready" "$1"; }
SLIPWAY_UI_URL=$(field ui_url) || fail "ready line without ui_url: $ready"
SLIPWAY_API_URL=$(field api_url) || fail "ready line without api_url: $ready"
SLIPWAY_TOKEN=$(field token) || fail "ready line without token: $ready"
# The example repo's path: tests that change its rules commit to it with plain git.
SLIPWAY_REPO=$(field repo) || fail "ready line without repo: $ready"
export SLIPWAY_UI_URL SLIPWAY_API_URL SLIPWAY_TOKEN SLIPWAY_REPO
echo "ui browser tests against $SLIPWAY_UI_URL (screenshots in $root/target/ui-screenshots/)"

cd "$ui"
if [ "$#" -gt 0 ]; then
  files=()
  for name in "$@"; do
    [ -f "$here/$(basename "$name")" ] || fail "no browser test $here/$(basename "$name")"
    files+=("$here/$(basename "$name")")
  done
else
  files=("$here"/*.test.mjs)
fi
node --test --test-concurrency=1 "${files[@]}"
