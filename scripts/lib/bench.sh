# Sourced by the benchmark scripts: a scratch dir and the machine's banner (bench_begin), and
# a `warden serve` on a fresh data dir at 127.0.0.1:0 stopped with SIGTERM (daemon_start sets
# `pid` and `addr`; daemon_stop).
daemon_start_timeout_s=20
daemon_stop_timeout_s=15

# daemon_start BIN DATA_DIR LOG_FILE [serve flags...]
daemon_start() {
  local bin="$1" data="$2" log="$3"
  shift 3
  "$bin" init --data-dir "$data" >/dev/null
  "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 "$@" 2>"$log" &
  pid=$!
  for _ in $(seq $((daemon_start_timeout_s * 10))); do
    [ -s "$data/warden.addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  addr="$(cat "$data/warden.addr")"
}

# daemon_stop: SIGTERM, then waits; fails when the daemon does not stop or exits non-zero.
daemon_stop() {
  local status=0
  kill -TERM "$pid"
  for _ in $(seq $((daemon_stop_timeout_s * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "warden did not stop within ${daemon_stop_timeout_s}s of SIGTERM" >&2
    status=1
  else
    wait "$pid" || { echo "warden serve exited $?" >&2; status=1; }
  fi
  pid=""
  return "$status"
}

# Kills a daemon left running (an EXIT trap).
daemon_kill() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
}

# bench_begin: a scratch dir in `tmp`, removed with any daemon left running when the script
# exits; a fresh master password; the machine and its load before the run.
bench_begin() {
  tmp="$(mktemp -d)"
  pid=""
  trap 'daemon_kill; rm -rf "$tmp"' EXIT
  export WARDEN_MASTER_PASSWORD="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "== load before: $(uptime | sed 's/.*load average/load average/')"
}
