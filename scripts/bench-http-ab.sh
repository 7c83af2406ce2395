#!/usr/bin/env bash
# HTTP decisions of several daemons (or settings) measured in one run, interleaved: for each
# round, each variant gets a fresh data dir and `warden serve` on 127.0.0.1:0 under the
# loopback load generator at each connection count; prints every run's decisions/s and, per
# connection count, each variant's median against the first variant's (docs/benchmarks.md).
# Usage: scripts/bench-http-ab.sh NAME=BIN[:SERVE FLAGS] ...   e.g.
#   scripts/bench-http-ab.sh "before=old/warden" "full=build/src/cli/warden" \
#     "normal=build/src/cli/warden:--durability normal"
# Knobs: ROUNDS (3), LOAD_DURATION_MS (per phase, 5000), LOAD_CONNECTIONS (16,64,256),
# LOAD_THREADS (client threads, 1), BUILD (the build dir with warden_load, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
rounds="${ROUNDS:-3}"
duration_ms="${LOAD_DURATION_MS:-5000}"
connections="${LOAD_CONNECTIONS:-16,64,256}"
load_threads="${LOAD_THREADS:-1}"
build="${BUILD:-build}"
if (($# < 1)); then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
bash scripts/build.sh warden_load >/dev/null

bench_begin
results="$tmp/results"  # lines: variant connections decisions_per_second
: >"$results"
for round in $(seq "$rounds"); do
  for variant in "$@"; do
    name="${variant%%=*}"
    spec="${variant#*=}"
    bin="${spec%%:*}"
    flags=""
    [[ "$spec" == *:* ]] && flags="${spec#*:}"
    run="$tmp/$name-$round"
    mkdir -p "$run"
    # shellcheck disable=SC2086
    daemon_start "$bin" "$run/data" "$run/serve.log" --log-level warn $flags
    timeout 300 "$build/bench/load/warden_load" --addr "$addr" --connections "$connections" \
      --duration-ms "$duration_ms" --threads "$load_threads" >"$run/load.txt"
    daemon_stop
    awk -v n="$name" '$2 == "POST" && $3 == "/v1/transactions" { print n, $1, $6 }' \
      "$run/load.txt" | tee -a "$results" |
      awk -v r="$round" '{ printf "round %s %-10s %5d conns %10.0f /s\n", r, $1, $2, $3 }'
  done
done

# median_of VARIANT CONNECTIONS: the median decisions/s of that variant's runs.
median_of() {
  awk -v n="$1" -v c="$2" '$1 == n && $2 == c { print $3 }' "$results" | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== medians of $rounds rounds (decisions/s), and the ratio to ${1%%=*}"
first="${1%%=*}"
for variant in "$@"; do
  name="${variant%%=*}"
  for c in ${connections//,/ }; do
    median=$(median_of "$name" "$c")
    base=$(median_of "$first" "$c")
    awk -v n="$name" -v c="$c" -v m="$median" -v b="$base" \
      'BEGIN { printf "%-10s %5d conns %10.0f /s   ratio %.3f\n", n, c, m, (b > 0 ? m / b : 0) }'
  done
done
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
