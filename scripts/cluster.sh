#!/usr/bin/env bash
# A local Warden cluster for trying cluster mode and for its tests (docs/cluster.md):
#   scripts/cluster.sh up N [DIR]    a PostgreSQL in DIR/pg (scripts/pg.sh), the schema migrated
#                                    by the owner role, and N replicas on their own loopback
#                                    ports, each with its data directory DIR/replica-I; prints
#                                    one base URL per replica. The master password is in
#                                    DIR/master-password.
#   scripts/cluster.sh down [DIR]    stops the replicas (SIGTERM, then SIGKILL after 15 s) and
#                                    the server; DIR stays, `up` starts it again.
#   scripts/cluster.sh start DIR I   (re)starts replica I alone, e.g. after a kill -9.
# DIR defaults to ./warden-cluster. The binary is $WARDEN_BIN, else build/src/cli/warden.
# Extra `warden serve` flags for every replica: $WARDEN_REPLICA_FLAGS (word-split).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pg="$root/scripts/pg.sh"
bin=${WARDEN_BIN:-$root/build/src/cli/warden}

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

usage() { die "usage: cluster.sh up N [DIR] | down [DIR] | start DIR I"; }

store_url() { bash "$pg" url "$1/pg" "${2:-warden}"; }

# Starts replica I of the cluster in DIR and waits until it answers /readyz.
start_replica() {
  local dir=$1 i=$2
  local data="$dir/replica-$i"
  mkdir -p "$data"
  chmod 0700 "$data"
  # Every replica seals and opens the shared signing keys with the same master secret.
  install -m 0600 "$dir/master.secret" "$data/master.secret"
  rm -f "$data/warden.addr"
  # shellcheck disable=SC2086
  WARDEN_STORE_PASSWORD="$(cat "$dir/pg/warden.password")" \
    nohup "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 \
    --store "$(store_url "$dir")" ${WARDEN_REPLICA_FLAGS:-} \
    >> "$data/warden.log" 2>&1 < /dev/null &
  echo $! > "$data/pid"
  local waited=0
  until [[ -s $data/warden.addr ]]; do
    kill -0 "$(cat "$data/pid")" 2> /dev/null || die "replica $i exited, see $data/warden.log"
    ((waited++ < 300)) || die "replica $i did not start within 30 s, see $data/warden.log"
    sleep 0.1
  done
  local addr
  addr=$(head -n1 "$data/warden.addr")
  waited=0
  until curl -fs "http://$addr/readyz" > /dev/null; do
    ((waited++ < 300)) || die "replica $i is not ready after 30 s, see $data/warden.log"
    sleep 0.1
  done
  echo "http://$addr"
}

stop_replica() {
  local data=$1
  [[ -f $data/pid ]] || return 0
  local pid
  pid=$(cat "$data/pid")
  if kill -0 "$pid" 2> /dev/null; then
    kill -TERM "$pid" 2> /dev/null || true
    local waited=0
    while kill -0 "$pid" 2> /dev/null && ((waited++ < 150)); do sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
  fi
  rm -f "$data/pid"
}

up() {
  local n=$1 dir
  dir=$(realpath -m "${2:-warden-cluster}")
  [[ $n =~ ^[1-9][0-9]*$ ]] || usage
  [[ -x $bin ]] || die "no warden binary at $bin (build first, or set WARDEN_BIN)"
  mkdir -p "$dir"
  chmod 0755 "$dir"  # the postgres user must reach DIR/pg when run as root
  bash "$pg" start "$dir/pg" > /dev/null
  WARDEN_STORE_PASSWORD="$(cat "$dir/pg/warden_owner.password")" \
    "$bin" db migrate --store "$(store_url "$dir" warden_owner)" > /dev/null
  if [[ ! -f $dir/master.secret ]]; then
    (umask 077 && head -c 32 /dev/urandom > "$dir/master.secret")
  fi
  if [[ ! -f $dir/master-password ]]; then
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$dir/master-password")
  fi
  # The master password hash lives in the shared store (idempotent).
  mkdir -p "$dir/replica-1"
  WARDEN_STORE_PASSWORD="$(cat "$dir/pg/warden.password")" \
    "$bin" init --data-dir "$dir/replica-1" --store "$(store_url "$dir")" \
    --master-password-file "$dir/master-password" > /dev/null
  local i
  for ((i = 1; i <= n; i++)); do
    stop_replica "$dir/replica-$i"
    start_replica "$dir" "$i"
  done
}

down() {
  local dir
  dir=$(realpath -m "${1:-warden-cluster}")
  [[ -d $dir ]] || die "no cluster in $dir"
  local data
  for data in "$dir"/replica-*; do
    [[ -d $data ]] && stop_replica "$data"
  done
  if [[ -d $dir/pg ]]; then bash "$pg" stop "$dir/pg" > /dev/null; fi
}

[[ $# -ge 1 ]] || usage
case $1 in
  up)
    [[ $# -ge 2 && $# -le 3 ]] || usage
    up "$2" "${3:-}"
    ;;
  down)
    [[ $# -le 2 ]] || usage
    down "${2:-}"
    ;;
  start)
    [[ $# -eq 3 ]] || usage
    dir=$(realpath -m "$2")
    stop_replica "$dir/replica-$3"
    start_replica "$dir" "$3"
    ;;
  *) usage ;;
esac
