#!/usr/bin/env bash
# Event -> built-in action latency through the daemon: builds warden and automation_latency,
# starts `warden serve` on a fresh temporary data dir (127.0.0.1:0, default durability) and runs
# automation_latency against it (docs/benchmarks.md, "Automation: event to action through the
# daemon"), then stops it with SIGTERM.
# Usage: scripts/bench-automation.sh [build-dir]   (default: build). Not part of CI's test run.
# Knobs: SAMPLES (500), AGENTS (20), SERVE_FLAGS (extra `warden serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

WARDEN_BUILD_DIR="$build" bash scripts/build.sh warden automation_latency >/dev/null
bench_begin
# shellcheck disable=SC2086
daemon_start "$build/src/cli/warden" "$tmp/data" "$tmp/serve.log" --log-level warn ${SERVE_FLAGS:-}
echo "== warden serve pid $pid on $addr"
status=0
timeout 600 "$build/bench/load/automation_latency" --addr "$addr" --samples "${SAMPLES:-500}" \
  --agents "${AGENTS:-20}" || status=1
daemon_stop || status=1
exit "$status"
