#!/usr/bin/env bash
# Credit-ledger debits over HTTP: builds warden and warden_load, then, round after round, a real
# `warden serve` on a fresh temporary data dir (127.0.0.1:0, default durability) under
# `warden_load --scenario ledger-debit` (at each connection count: GET /healthz, POST
# /v1/transactions, then POST /v1/ledger/debit with a fresh idempotency key per request),
# stopped with SIGTERM. Prints each round's table and, per connection count, the median of the
# rounds for debits/s and decisions/s and their ratio (docs/benchmarks.md, "Credit ledger over
# HTTP"). Rounds run one after the other, so each point's measurements are interleaved with the
# others'.
# Usage: scripts/bench-ledger.sh [build-dir]   (default: build). Not part of CI's test run.
# Knobs: ROUNDS (2), LOAD_DURATION_MS (per phase, 5000), LOAD_CONNECTIONS (16,64,256),
# LOAD_THREADS (client threads, 1), OWNERS (accounts the debits spread over, 1), KEYS (how the
# idempotency keys sort: random, connection or ordered; default random), WARDEN_BIN (the daemon
# to measure, default the build's), SERVE_FLAGS (extra `warden serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
rounds="${ROUNDS:-2}"
duration_ms="${LOAD_DURATION_MS:-5000}"
connections="${LOAD_CONNECTIONS:-16,64,256}"
load_threads="${LOAD_THREADS:-1}"
owners="${OWNERS:-1}"
keys="${KEYS:-random}"
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

WARDEN_BUILD_DIR="$build" bash scripts/build.sh warden warden_load >/dev/null
warden="${WARDEN_BIN:-$build/src/cli/warden}"

bench_begin
results="$tmp/results"  # lines: round request connections per_second
: >"$results"
status=0
for round in $(seq "$rounds"); do
  run="$tmp/round-$round"
  mkdir -p "$run"
  # shellcheck disable=SC2086
  daemon_start "$warden" "$run/data" "$run/serve.log" --log-level warn ${SERVE_FLAGS:-}
  echo "== round $round: $warden serve pid $pid on $addr"
  timeout 600 "$build/bench/load/warden_load" --addr "$addr" --connections "$connections" \
    --duration-ms "$duration_ms" --threads "$load_threads" --scenario ledger-debit \
    --owners "$owners" --keys "$keys" | tee "$run/load.txt" || status=1
  echo "daemon RSS after the round: $(($(ps -o rss= -p "$pid") / 1024)) MiB"
  daemon_stop || status=1
  awk -v r="$round" '$2 == "POST" { print r, $3, $1, $6 }' "$run/load.txt" >>"$results"
done

# median_of REQUEST CONNECTIONS: the median req/s of that request's rounds.
median_of() {
  awk -v q="$1" -v c="$2" '$2 == q && $3 == c { print $4 }' "$results" | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== medians of $rounds rounds: durable debits/s, decisions/s and their ratio"
for c in ${connections//,/ }; do
  debits=$(median_of /v1/ledger/debit "$c")
  decisions=$(median_of /v1/transactions "$c")
  all=$(awk -v c="$c" '$2 == "/v1/ledger/debit" && $3 == c { printf "%s%.0f", s, $4; s = " " }' \
    "$results")
  awk -v c="$c" -v l="$debits" -v d="$decisions" -v a="$all" 'BEGIN {
    printf "%5d conns  debits %8.0f /s  decisions %8.0f /s  ratio %.3f  (debits each round: %s)\n",
      c, l, d, (d > 0 ? l / d : 0), a }'
done
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
exit "$status"
