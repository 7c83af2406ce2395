#!/usr/bin/env bash
# Decision benchmarks: builds engine_bench, store_bench, startup_bench, warden and warden_load,
# runs the in-process engine benchmark and the store's durable-write benchmark, then a real
# `warden serve` on a temporary data dir (127.0.0.1:0) under the loopback load generator at 1,
# 16, 64 and 256 connections, stops it with SIGTERM, then the decision service's start-up on
# 1,000,000 stored decisions, and prints a summary.
# Usage: scripts/bench.sh [build-dir]   (default: build-bench). Not part of CI's test run.
# Knobs: BENCH_MIN_TIME (s per engine/store case, default 0.3), LOAD_DURATION_MS (per phase,
# 5000), LOAD_CONNECTIONS (1,16,64,256), LOAD_THREADS (client threads, 1), SERVE_FLAGS (extra
# `warden serve` flags), STARTUP_REPS (start-up repetitions, 1; each one cold and warm).
# startup_bench keeps its generated data file (~2.2 GiB, about a minute to build) in $TMPDIR as
# warden-startup-bench-<version>.db for the next run; delete it to reclaim the space.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-bench}"
min_time="${BENCH_MIN_TIME:-0.3}"
duration_ms="${LOAD_DURATION_MS:-5000}"
connections="${LOAD_CONNECTIONS:-1,16,64,256}"
load_threads="${LOAD_THREADS:-1}"
startup_reps="${STARTUP_REPS:-1}"
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j2 warden engine_bench store_bench startup_bench warden_load >/dev/null

bench_begin
echo "== decision engine (in process)"
timeout 600 "$build/bench/engine_bench" --benchmark_min_time="$min_time" --benchmark_color=false \
  | tee "$tmp/engine.txt"

echo "== durable decision writes (embedded store, group commit)"
timeout 600 "$build/bench/store_bench" --benchmark_min_time="$min_time" --benchmark_color=false \
  | tee "$tmp/store.txt"

echo "== HTTP decisions (warden serve on loopback, durable commits)"
# shellcheck disable=SC2086
daemon_start "$build/src/cli/warden" "$tmp/data" "$tmp/serve.log" ${SERVE_FLAGS:-}
echo "warden serve pid $pid on $addr"
status=0
timeout 300 "$build/bench/load/warden_load" --addr "$addr" --connections "$connections" \
  --duration-ms "$duration_ms" --threads "$load_threads" | tee "$tmp/load.txt" || status=$?

daemon_stop || status=1

echo "== start-up with 1,000,000 stored decisions (decision service recovery)"
timeout 900 "$build/bench/startup_bench" --reps "$startup_reps" | tee "$tmp/startup.txt" || status=1

echo "== summary"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
sed -n '/^per-call latency/,$p' "$tmp/engine.txt"
sed -n '/^durable decision writes/,$p' "$tmp/store.txt"
cat "$tmp/load.txt"
sed -n '/^median start-up/,$p' "$tmp/startup.txt"
exit "$status"
