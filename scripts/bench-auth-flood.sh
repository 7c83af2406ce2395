#!/usr/bin/env bash
# Bad-token flood benchmark: a real `warden serve` on a temporary data dir (127.0.0.1:0), a good
# agent's decisions alone and then while 32 more connections send invalid bearer tokens, in one
# run; prints the agent's p50/p99 in both phases and the p99 ratio (docs/benchmarks.md).
# Usage: scripts/bench-auth-flood.sh [build-dir]   (default: build). Not part of CI's test run.
# Knobs: LOAD_DURATION_MS (per phase, 5000), LOAD_CONNECTIONS (the agent's, 1,4), FLOOD (bad-token
# connections, 32), LOAD_THREADS (client threads per phase, 1), WARDEN_BIN (the daemon to
# measure, default the build's), SERVE_FLAGS (extra `warden serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
duration_ms="${LOAD_DURATION_MS:-5000}"
connections="${LOAD_CONNECTIONS:-1,4}"
flood="${FLOOD:-32}"
load_threads="${LOAD_THREADS:-1}"
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

bash scripts/build.sh warden warden_load >/dev/null
warden="${WARDEN_BIN:-$build/src/cli/warden}"

bench_begin
data="$tmp/data"
# shellcheck disable=SC2086
daemon_start "$warden" "$data" "$tmp/serve.log" --log-level warn ${SERVE_FLAGS:-}
echo "== $warden serve pid $pid on $addr"
status=0
timeout 300 "$build/bench/load/warden_load" --addr "$addr" --connections "$connections" \
  --duration-ms "$duration_ms" --threads "$load_threads" --auth-flood "$flood" || status=$?

daemon_stop || status=1
echo "== AUTH_FAILED rows written: $(sqlite3 "$data/warden.db" \
  "SELECT count(*) || ' rows counting ' || coalesce(sum(json_extract(details, '\$.count')), count(*)) || ' failures' FROM audit_log WHERE event_type = 'AUTH_FAILED'" 2>/dev/null || echo unknown)"
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
exit "$status"
