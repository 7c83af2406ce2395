#!/usr/bin/env bash
# Cluster benchmark (docs/benchmarks.md, "Cluster mode"): durable decisions/s and p50/p99 under
# the loopback load generator, in one run, for
#   1. single-node SQLite (`warden serve` on a data directory: the baseline),
#   2. one replica on PostgreSQL (scripts/cluster.sh up 1),
#   3. the same replica with row-level security switched off (the cost of the tenant policies),
#   4. three replicas on the same PostgreSQL (connections spread round-robin over them),
# then prints each one's ratio against the SQLite baseline. Every decision reserves in a
# SPENDING_LIMIT window that never fills, so on PostgreSQL each one is checked against the
# replicas' shared count (reserve_window): the cost of exact limits is in the numbers.
# Usage: scripts/bench-cluster.sh [build-dir]   (default: build). Not part of CI's test run.
# Knobs: LOAD_DURATION_MS (per phase, 10000), LOAD_CONNECTIONS (64), LOAD_THREADS (client
# threads, 1), SERVE_FLAGS (extra `warden serve` flags for every daemon), REPLICA_FLAGS (for the
# PostgreSQL replicas only).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
duration_ms="${LOAD_DURATION_MS:-10000}"
connections="${LOAD_CONNECTIONS:-64}"
load_threads="${LOAD_THREADS:-1}"
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh

bash scripts/build.sh warden warden_load > /dev/null
warden="$build/src/cli/warden"
load="$build/bench/load/warden_load"

bench_begin
cluster="$(mktemp -d /tmp/warden-bench-cluster.XXXXXX)"
chmod 0755 "$cluster"
trap 'daemon_kill; bash scripts/cluster.sh down "$cluster" > /dev/null 2>&1 || true; rm -rf "$tmp" "$cluster"' EXIT

# run_load NAME ADDRS: one phase of decisions against ADDRS (comma-separated); prints the row.
run_load() {
  echo "== $1"
  timeout 300 "$load" --addr "$2" --connections "$connections" --duration-ms "$duration_ms" \
    --threads "$load_threads" | tee "$tmp/$1.txt"
}

# The decisions row of a phase: "req/s p50 p99".
decisions_of() { awk '/POST \/v1\/transactions/ {print $6, $7, $8}' "$tmp/$1.txt" | tail -1; }

# shellcheck disable=SC2086
daemon_start "$warden" "$tmp/data" "$tmp/serve.log" --log-level warn ${SERVE_FLAGS:-}
run_load sqlite "$addr"
daemon_stop

export WARDEN_REPLICA_FLAGS="--log-level warn ${SERVE_FLAGS:-} ${REPLICA_FLAGS:-}"
WARDEN_BIN="$warden" bash scripts/cluster.sh up 1 "$cluster" > "$tmp/urls"
export WARDEN_MASTER_PASSWORD
WARDEN_MASTER_PASSWORD="$(cat "$cluster/master-password")"
# A fresh server's first seconds (cold caches, first plans) would be charged to whichever phase
# runs first: a short unreported run warms it.
timeout 120 "$load" --addr "$(sed 's|http://||' "$tmp/urls" | paste -sd,)" --connections \
  "$connections" --duration-ms 3000 --threads "$load_threads" > /dev/null
run_load pg-1 "$(sed 's|http://||' "$tmp/urls" | paste -sd,)"

# The same single replica with row-level security switched off on every table (as the owner),
# then on again: what the tenant policies cost the daemon's statements.
rls() {
  PGPASSWORD="$(cat "$cluster/pg/warden_owner.password")" psql -q -v ON_ERROR_STOP=1 \
    "$(bash scripts/pg.sh url "$cluster/pg" warden_owner)" -c "DO \$\$ DECLARE t text; BEGIN
      FOR t IN SELECT DISTINCT tablename FROM pg_policies WHERE schemaname = 'public' LOOP
        EXECUTE format('ALTER TABLE %I $1 ROW LEVEL SECURITY', t);
      END LOOP; END \$\$"
}
rls DISABLE
run_load pg-1-no-rls "$(sed 's|http://||' "$tmp/urls" | paste -sd,)"
rls ENABLE

WARDEN_BIN="$warden" bash scripts/cluster.sh up 3 "$cluster" > "$tmp/urls"
run_load pg-3 "$(sed 's|http://||' "$tmp/urls" | paste -sd,)"

echo "== summary ($connections connections, ${duration_ms} ms per phase)"
read -r base _ _ <<< "$(decisions_of sqlite)"
printf "%-24s %12s %10s %10s %8s\n" "store" "decisions/s" "p50 us" "p99 us" "ratio"
for phase in sqlite pg-1 pg-1-no-rls pg-3; do
  read -r rate p50 p99 <<< "$(decisions_of "$phase")"
  ratio=$(awk -v a="$rate" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  name=$phase
  case $phase in
    sqlite) name="SQLite, one node" ;;
    pg-1) name="PostgreSQL, 1 replica" ;;
    pg-1-no-rls) name="  the same, RLS off" ;;
    pg-3) name="PostgreSQL, 3 replicas" ;;
  esac
  printf "%-24s %12s %10s %10s %8s\n" "$name" "$rate" "$p50" "$p99" "$ratio"
done
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
