#!/usr/bin/env bash
# Runs the Kubernetes conformance checker (shared/k8s-reference/conformance.py, next to the
# repository) against a freshly started simulated cluster. Checks listed in README.md as
# deliberate simplifications (lines "- SKIP `group/check`: reason") are left out.
# Without ../shared (a user's clone) it says so and succeeds.
set -euo pipefail

crate_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$crate_dir/../.." && pwd)"
checker="$repo_root/../shared/k8s-reference/conformance.py"
if [[ ! -f "$checker" ]]; then
    echo "conformance: $checker not found; skipping the conformance run"
    exit 0
fi

cd "$repo_root"
cargo build --quiet -p slipway-simcluster --bin slipway-simcluster
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/debug/slipway-simcluster"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" --bind 127.0.0.1:0 --rollout-delay 1s --kubeconfig-out "$work/kubeconfig" >"$work/url" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$work/url" ]] && break
    sleep 0.1
done
if [[ ! -s "$work/url" ]]; then
    echo "conformance: the simulated cluster did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
echo "conformance: simulated cluster at $(cat "$work/url")"

skips="$(grep -oE '^- SKIP `[a-z]+/[a-z0-9-]+`' "$crate_dir/README.md" | sed -E 's/.*`(.*)`/\1/' || true)"
args=()
if [[ -n "$skips" ]]; then
    only="$(python3 "$checker" --list | grep -vxF -f <(echo "$skips") | paste -sd, -)"
    echo "conformance: skipping (see crates/simcluster/README.md): $(echo "$skips" | paste -sd' ' -)"
    args=(--only "$only")
fi
python3 "$checker" --kubeconfig "$work/kubeconfig" "${args[@]}"
