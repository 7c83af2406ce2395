#!/usr/bin/env bash
# A local PostgreSQL for Warden's cluster mode and its tests (docs/cluster.md):
#   scripts/pg.sh start DIR [PORT]  initdb into DIR/data (once), start it on 127.0.0.1:PORT (a free
#                                   port when omitted), create the roles and the database
#   scripts/pg.sh stop DIR          stop it (DIR stays; `start DIR` starts it again)
#   scripts/pg.sh url DIR [ROLE]    the connection URL for ROLE (warden by default, or
#                                   warden_owner); the password is in DIR/ROLE.password
#   scripts/pg.sh createdb DIR NAME another database set up like `warden` (the tests use one
#                                   each)
# Roles: warden_owner owns the database and runs the migrations; warden is the daemon's role,
# with only the grants the migrations give it. The superuser is reachable only through the unix
# socket in DIR, by peer authentication. Run as root, the server runs as the `postgres` user.
# WARDEN_PG_SERVER_OPTIONS adds server settings at start (`-c name=value ...`); the tests' server
# turns fsync off with it (its data is thrown away: no test kills PostgreSQL itself).
set -euo pipefail

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly DB=warden
readonly ROLES=(warden_owner warden)

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() { die "usage: pg.sh start DIR [PORT] | stop DIR | url DIR [ROLE] | createdb DIR NAME"; }

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
data=$dir/data

# The user the server runs as and the command prefix that runs a command as that user.
as_server=()
server_user=$(id -un)
if [[ "$(id -u)" -eq 0 ]]; then
  server_user=postgres
  as_server=(runuser -u postgres --)
fi

port_of() { cat "$dir/port" 2> /dev/null || die "$dir has no port file: was it started?"; }

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# A port below the kernel's ephemeral range (the one outgoing connections and `--listen :0` draw
# from), so that a port found free is not taken by someone's source port before the server binds.
pick_port() {
  local low=10000 high p
  high=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || echo 32768)
  ((high > low + 1000)) || high=32768
  for _ in $(seq 1 200); do
    p=$((low + RANDOM % (high - low)))
    if port_free "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

running() { [[ -f $data/postmaster.pid ]] && "${as_server[@]}" "$PG_BIN/pg_ctl" -D "$data" status > /dev/null 2>&1; }

# Runs SQL from stdin as the superuser over the unix socket; passwords travel on stdin, never in
# argv.
super_sql() {
  "${as_server[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(port_of)" \
    -U "$server_user" -d "$1"
}

start() {
  local port=${1:-}
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql)"
  mkdir -p "$dir"
  if [[ ${#as_server[@]} -gt 0 ]]; then
    chown "$server_user": "$dir"
    "${as_server[@]}" test -x "$dir" || die "$server_user cannot reach $dir (check its parents)"
  fi
  chmod 0700 "$dir"
  if running; then
    echo "pg.sh: already running on port $(port_of)" >&2
    return
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    "${as_server[@]}" "$PG_BIN/initdb" -D "$data" -U "$server_user" --auth-local=peer \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1 ||
      die "initdb failed, see $dir/initdb.log"
    # Only the two Warden roles, only over loopback TCP (and only into the databases that grant
    # them CONNECT); the superuser only through the socket.
    printf '%s\n' \
      "local all $server_user peer" \
      "host all warden_owner,warden 127.0.0.1/32 scram-sha-256" |
      "${as_server[@]}" tee "$data/pg_hba.conf" > /dev/null
  fi
  # A port picked here is picked again when someone else bound it first (up to three tries); a
  # port given is used or refused.
  local tries=1
  [[ -n $port ]] || tries=3
  while :; do
    local try_port=${port:-$(pick_port)}
    port_free "$try_port" || die "port $try_port is in use"
    echo "$try_port" > "$dir/port"
    local seen
    seen=$(wc -l 2> /dev/null < "$dir/server.log" || echo 0)
    if "${as_server[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $try_port -c unix_socket_directories=$dir ${WARDEN_PG_SERVER_OPTIONS:-}" \
      start > /dev/null; then
      break
    fi
    if ((--tries > 0)) && tail -n "+$((seen + 1))" "$dir/server.log" | grep -q "could not bind"; then
      echo "pg.sh: port $try_port was taken meanwhile, trying another" >&2
      continue
    fi
    echo "pg.sh: the end of $dir/server.log:" >&2
    tail -n 20 "$dir/server.log" >&2 2> /dev/null || true
    die "the server did not start, see $dir/server.log"
  done
  local role pw
  for role in "${ROLES[@]}"; do
    if [[ ! -s $dir/$role.password ]]; then
      (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d " \n" > "$dir/$role.password")
    fi
    chmod 0600 "$dir/$role.password"
  done
  # Idempotent: a restarted DIR keeps its roles and passwords.
  {
    for role in "${ROLES[@]}"; do
      pw=$(cat "$dir/$role.password")
      echo "SELECT format('CREATE ROLE %I LOGIN', '$role')"
      echo "  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \\gexec"
      echo "ALTER ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$pw';"
    done
  } | super_sql postgres
  createdb "$DB"
  url warden
}

# A database owned by warden_owner, default deny: nothing for PUBLIC in it or its schema; the
# migrations grant the warden role what it needs.
createdb() {
  local name=$1
  [[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name must be a plain lower-case identifier"
  running || die "the server in $dir is not running"
  {
    echo "SELECT 'CREATE DATABASE $name OWNER warden_owner'"
    echo "  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$name') \\gexec"
    echo "REVOKE ALL ON DATABASE $name FROM PUBLIC;"
    echo "GRANT CONNECT ON DATABASE $name TO warden_owner, warden;"
  } | super_sql postgres
  super_sql "$name" << 'EOF'
ALTER SCHEMA public OWNER TO warden_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO warden;
ALTER DEFAULT PRIVILEGES FOR ROLE warden_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
EOF
}

stop() {
  if running; then
    "${as_server[@]}" "$PG_BIN/pg_ctl" -D "$data" -w -t 60 -m fast stop > /dev/null
  fi
}

url() {
  local role=${1:-warden}
  [[ " ${ROLES[*]} " == *" $role "* ]] || die "unknown role $role"
  echo "postgresql://$role@127.0.0.1:$(port_of)/$DB"
}

case $cmd in
  start) start "${3:-}" ;;
  stop) stop ;;
  url) url "${3:-warden}" ;;
  createdb) createdb "${3:?database name}" ;;
  *) usage ;;
esac
