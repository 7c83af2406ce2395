#!/usr/bin/env bash
# The PostgreSQL the postgres-labelled tests run against (a CTest fixture):
#   server.sh start ENV_FILE DB...  a fresh server in a new directory under /tmp (reachable by
#                                   the postgres user when run as root), one database per name,
#                                   and ENV_FILE describing it for the tests
#   server.sh stop ENV_FILE         stop it and remove its directory
set -euo pipefail
pg="$(dirname "$0")/../../scripts/pg.sh"
cmd=$1
env_file=$2
shift 2

case $cmd in
  start)
    if [[ -f $env_file ]]; then "$0" stop "$env_file"; fi
    dir=$(mktemp -d /tmp/warden-pg-test.XXXXXX)
    chmod 0755 "$dir"
    # Throwaway data: no fsync, so that stopping a server with many databases is quick.
    WARDEN_PG_SERVER_OPTIONS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      bash "$pg" start "$dir/pg" > /dev/null
    for db in "$@"; do bash "$pg" createdb "$dir/pg" "$db"; done
    {
      echo "dir=$dir/pg"
      echo "owner_url=$(bash "$pg" url "$dir/pg" warden_owner)"
      echo "app_url=$(bash "$pg" url "$dir/pg" warden)"
      echo "owner_password_file=$dir/pg/warden_owner.password"
      echo "app_password_file=$dir/pg/warden.password"
    } > "$env_file"
    ;;
  stop)
    [[ -f $env_file ]] || exit 0
    dir=$(sed -n 's/^dir=//p' "$env_file")
    if [[ -n $dir ]]; then
      bash "$pg" stop "$dir" || true
      rm -rf "$(dirname "$dir")"
    fi
    rm -f "$env_file"
    ;;
  *)
    echo "usage: server.sh start ENV_FILE DB... | stop ENV_FILE" >&2
    exit 2
    ;;
esac
