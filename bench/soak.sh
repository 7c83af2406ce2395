#!/usr/bin/env bash
# Soak: throughput over history (not part of CI). Builds warden and warden_load, starts a real
# `warden serve` (embedded SQLite store) on a fresh data dir at 127.0.0.1:0 and writes decisions
# over HTTP in phases of SOAK_PHASE until SOAK_DECISIONS are stored. Each decision is settled
# (`warden_load --scenario decide-settle`: decide, then confirm at the reserved amount), so what
# is open stays at one reservation per connection and the daemon's memory can only grow with
# history. After each phase it prints one row: stored decisions, decisions/s, p50/p99 of the
# decision, errors, daemon RSS and its anonymous part (/proc; the rest is the database file
# mapped by SQLite), open reservations (/metrics), database and WAL bytes, bytes per stored
# decision, archive size (DATA_DIR/archive), the daemon's start-up time on the data dir (stopped
# with SIGTERM and started again every SOAK_RESTART_EVERY phases; time from exec until /readyz
# answers 200) and the 1-minute load average. At each of SOAK_POINTS stored decisions (0 is the
# empty data dir; a point is taken after the first phase that reaches it, right after that
# phase's restart, as the one at 0 is right after the first start) it also measures
# SOAK_POINT_MS of decisions alone and prints a `point` row. Then it compares the last phase
# with the first and every point with the one at 0, and ends with a probe of what an open
# reservation costs: SOAK_PROBE_MS of settled decisions (the baseline), then SOAK_PROBE_MS of
# unsettled ones, RSS delta / open reservations.
#
# Usage: bench/soak.sh [build-dir]   (default: build)
# Knobs: SOAK_DECISIONS (20000000), SOAK_PHASE (1000000), SOAK_CONNECTIONS (64), SOAK_THREADS
# (client threads, 1), SOAK_RESTART_EVERY (1), SOAK_POINTS ("0 5000000 20000000"),
# SOAK_POINT_MS (15000), SOAK_PROBE_MS (10000; 0 skips the probe),
# SOAK_DIR (where the data dir goes, default $TMPDIR: 20 M decisions take ~10 GB), SERVE_FLAGS
# (`warden serve` flags, default `--log-level warn`: at info the request log alone is ~480 bytes
# per decision), SOAK_KEEP (set: keep the data dir and binaries). The full run of 20 M took 54
# minutes on the 2-core VM with nothing else running (~7,200 decisions/s).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
total="${SOAK_DECISIONS:-20000000}"
phase_size="${SOAK_PHASE:-1000000}"
connections="${SOAK_CONNECTIONS:-64}"
threads="${SOAK_THREADS:-1}"
restart_every="${SOAK_RESTART_EVERY:-1}"
probe_ms="${SOAK_PROBE_MS:-10000}"
points="${SOAK_POINTS-0 5000000 20000000}"
point_ms="${SOAK_POINT_MS:-15000}"
serve_flags="${SERVE_FLAGS---log-level warn}"
# A phase that does not reach its count within this long ends anyway (warden_load's bound).
phase_ms_max=3600000
readyz_timeout_s=120
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

echo "== command: SOAK_DECISIONS=$total SOAK_PHASE=$phase_size SOAK_CONNECTIONS=$connections" \
  "SOAK_THREADS=$threads SOAK_RESTART_EVERY=$restart_every SOAK_POINTS='$points'" \
  "SOAK_POINT_MS=$point_ms SOAK_PROBE_MS=$probe_ms" \
  "SERVE_FLAGS='$serve_flags' bench/soak.sh $build"
WARDEN_BUILD_DIR="$build" bash scripts/build.sh warden warden_load >/dev/null

if [ -n "${SOAK_DIR:-}" ]; then export TMPDIR="$SOAK_DIR"; fi
bench_begin
if [ -n "${SOAK_KEEP:-}" ]; then
  trap 'daemon_kill; echo "kept $tmp (data dir, binaries, master password in $tmp/password)" >&2' EXIT
  printf '%s\n' "$WARDEN_MASTER_PASSWORD" >"$tmp/password"
fi
# Copies, so that a rebuild during an hour-long run does not change the daemon it restarts.
cp "$build/src/cli/warden" "$build/bench/load/warden_load" "$tmp/"
warden="$tmp/warden"
load="$tmp/warden_load"
data="$tmp/data"
log="$tmp/serve.log"
"$warden" init --data-dir "$data" >/dev/null

now_ns() { date +%s%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
# The anonymous part of RSS: without the database file's pages mapped by SQLite (mmap_size).
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$pid/status"; }
file_bytes() { if [ -e "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
archive_bytes() { if [ -d "$data/archive" ]; then du -sb "$data/archive" | cut -f1; else echo 0; fi; }
metric() { curl -sf "http://$addr/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# serve_timed: starts `warden serve` on the data dir (sets pid, addr, startup_ms: from exec
# until /readyz answers 200).
serve_timed() {
  rm -f "$data/warden.addr"
  local t0
  t0="$(now_ns)"
  # shellcheck disable=SC2086
  "$warden" serve --data-dir "$data" --listen 127.0.0.1:0 $serve_flags 2>>"$log" &
  pid=$!
  local deadline=$((t0 + readyz_timeout_s * 1000000000))
  while [ "$(now_ns)" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; return 1; }
    if [ -s "$data/warden.addr" ]; then
      addr="$(cat "$data/warden.addr")"
      if curl -sf -o /dev/null "http://$addr/readyz"; then
        startup_ms=$((($(now_ns) - t0) / 1000000))
        return 0
      fi
    fi
    sleep 0.01
  done
  echo "warden serve not ready within ${readyz_timeout_s}s" >&2
  return 1
}

# decide_settle N: N decisions (0: for SOAK_POINT_MS), each settled; sets ok, errors, rate,
# p50_us and p99_us from warden_load's result row.
decide_settle() {
  local bound=(--duration-ms "$phase_ms_max" --requests-max "$1") out row
  [ "$1" -gt 0 ] || bound=(--duration-ms "$point_ms")
  out="$(timeout $((phase_ms_max / 1000 + 60)) "$load" --addr "$addr" --scenario decide-settle \
    --connections "$connections" --threads "$threads" "${bound[@]}" 2>"$tmp/load.err")" ||
    { status=1; cat "$tmp/load.err" >&2; }
  row="$(grep 'decide + confirm' <<<"$out" || true)"
  [ -n "$row" ] || { echo "warden_load printed no result" >&2; exit 1; }
  read -r ok errors rate p50_us p99_us <<<"$(awk '{print $(NF-4), $(NF-3), $(NF-2), $(NF-1), $NF}' <<<"$row")"
}

# take_points: measures every point of SOAK_POINTS that `stored` has reached and not yet been
# measured (point_rates/point_p99s keep them in order).
point_rates=() point_p99s=() point_at=()
take_points() {
  local p rest=""
  for p in $points; do
    if [ "$p" -le "$stored" ]; then
      decide_settle 0
      printf '%5s %10d %8.0f %8.2f %8.2f %6d   (%d ms of decisions at %d stored)\n' point \
        "$((stored + ok))" "$rate" "$(awk -v v="$p50_us" 'BEGIN {print v / 1000}')" \
        "$(awk -v v="$p99_us" 'BEGIN {print v / 1000}')" "$errors" "$point_ms" "$stored"
      stored=$((stored + ok))
      point_rates+=("$rate") point_p99s+=("$p99_us") point_at+=("$p")
      [ "$errors" -eq 0 ] || status=1
    else
      rest="$rest $p"
    fi
  done
  points="$rest"
}

serve_timed
first_startup_ms="$startup_ms"
echo "warden serve pid $pid on $addr, data dir $data (empty: ready in ${startup_ms} ms)"

header="$(printf '%5s %10s %8s %8s %8s %6s %7s %7s %5s %8s %7s %6s %8s %8s %5s' phase stored \
  'dec/s' 'p50 ms' 'p99 ms' errors 'RSS MB' 'anon MB' open 'db MB' 'wal MB' 'B/dec' 'arch MB' \
  'start ms' load)"
echo "$header"
stored=0
phase=0
status=0
take_points
first_rate="" first_p99="" first_rss=""
while [ "$stored" -lt "$total" ]; do
  phase=$((phase + 1))
  want=$((total - stored < phase_size ? total - stored : phase_size))
  decide_settle "$want"
  stored=$((stored + ok))
  rss="$(rss_kb)"
  anon="$(anon_kb)"
  open="$(metric warden_open_reservations)"
  db="$(file_bytes "$data/warden.db")"
  wal="$(file_bytes "$data/warden.db-wal")"
  archive="$(archive_bytes)"
  start="-"
  restarted=1
  if [ $((phase % restart_every)) -eq 0 ]; then
    daemon_stop || status=1
    if serve_timed; then start="$startup_ms"; else start=">${readyz_timeout_s}000" restarted=0; fi
  fi
  line="$(awk -v ph="$phase" -v st="$stored" -v r="$rate" -v p50="$p50_us" -v p99="$p99_us" \
    -v e="$errors" -v rss="$rss" -v an="$anon" -v op="${open:-?}" -v db="$db" -v wal="$wal" -v ar="$archive" \
    -v su="$start" -v l="$(load1)" 'BEGIN {
      printf "%5d %10d %8.0f %8.2f %8.2f %6d %7.1f %7.1f %5s %8.1f %7.1f %6.0f %8.1f %8s %5s",
        ph, st, r, p50 / 1000, p99 / 1000, e, rss / 1024, an / 1024, op, db / 1048576, wal / 1048576,
        (db + wal) / st, ar / 1048576, su, l }')"
  echo "$line"
  if [ -z "$first_rate" ]; then first_rate="$rate" first_p99="$p99_us" first_rss="$rss"; fi
  last_rate="$rate" last_p99="$p99_us" last_rss="$rss" last_start="$start"
  [ "$errors" -eq 0 ] || status=1
  [ "$restarted" -eq 1 ] || exit 1
  take_points
done

echo "== last phase against the first (target: within 10 %)"
awk -v r0="$first_rate" -v r1="$last_rate" -v p0="$first_p99" -v p1="$last_p99" \
  -v m0="$first_rss" -v m1="$last_rss" -v s0="$first_startup_ms" -v s1="$last_start" 'BEGIN {
    printf "decisions/s %.0f -> %.0f (%+.1f %%)\n", r0, r1, (r1 / r0 - 1) * 100
    printf "p99 %.2f ms -> %.2f ms (%+.1f %%)\n", p0 / 1000, p1 / 1000, (p1 / p0 - 1) * 100
    printf "RSS after the phase %.1f MB -> %.1f MB (%+.1f %%)\n", m0 / 1024, m1 / 1024,
      (m1 / m0 - 1) * 100
    printf "start-up: empty data dir %d ms, after the last phase %s ms\n", s0, s1 }'
if [ "${#point_rates[@]}" -gt 1 ]; then
  echo "== points against the one at ${point_at[0]} stored (target: within 10 %)"
  for i in "${!point_rates[@]}"; do
    awk -v n="${point_at[$i]}" -v r0="${point_rates[0]}" -v r="${point_rates[$i]}" \
      -v p0="${point_p99s[0]}" -v p="${point_p99s[$i]}" 'BEGIN {
        printf "at %10d: %6.0f decisions/s (%+5.1f %%), p99 %6.2f ms (%+5.1f %%)\n", n, r,
          (r / r0 - 1) * 100, p / 1000, (p / p0 - 1) * 100 }'
  done
fi

if [ "$probe_ms" -gt 0 ]; then
  echo "== open reservations: RSS per open reservation (unsettled decisions for ${probe_ms} ms)"
  [ -n "$pid" ] || serve_timed
  # Settled decisions first, so that the baseline is a daemon warmed up by the same load.
  "$load" --addr "$addr" --scenario decide-settle --connections "$connections" \
    --threads "$threads" --duration-ms "$probe_ms" >/dev/null 2>&1 || status=1
  rss0="$(rss_kb)" anon0="$(anon_kb)"
  open0="$(metric warden_open_reservations)"
  timeout $((probe_ms / 1000 + 120)) "$load" --addr "$addr" --connections "$connections" \
    --threads "$threads" --duration-ms "$probe_ms" >"$tmp/probe.txt" 2>&1 || status=1
  grep 'POST /v1/transactions' "$tmp/probe.txt" || cat "$tmp/probe.txt" >&2
  rss1="$(rss_kb)" anon1="$(anon_kb)"
  open1="$(metric warden_open_reservations)"
  awk -v a="$rss0" -v b="$rss1" -v c="$anon0" -v d="$anon1" -v o0="$open0" -v o1="$open1" 'BEGIN {
    n = o1 > o0 ? o1 - o0 : 0
    printf "%d -> %d open reservations: RSS %.1f -> %.1f MB, %.0f bytes per open reservation;", \
      o0, o1, a / 1024, b / 1024, n ? (b - a) * 1024 / n : 0
    printf " anonymous %.1f -> %.1f MB, %.0f bytes per open reservation\n", c / 1024, d / 1024,
      n ? (d - c) * 1024 / n : 0 }'
fi
daemon_stop || status=1
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
exit "$status"
