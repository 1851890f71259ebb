# shellcheck shell=bash
# Finds or starts a PostgreSQL server for the tests and benchmarks.
#
#   ensure_postgres   sets ANSLUT_TEST_DATABASE_URL to an admin URL of a server that answers:
#                       1. $ANSLUT_TEST_DATABASE_URL or $DATABASE_URL when set;
#                       2. a server on 127.0.0.1:5432 when one answers and admits the
#                          connections the tests need (PG_MIN_CONNECTIONS);
#                       3. otherwise a throwaway cluster under target/ on a free port,
#                          installing Debian's postgresql package when the binaries are
#                          missing and we run as root; it is stopped on exit, whatever happened.

PG_THROWAWAY_DIR=""
PG_BIN=""
PG_RUN_AS=""

_pg_log() { echo "postgres: $*" >&2; }

_port_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

_find_pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then PG_BIN="$dir"; return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    PG_BIN="$(dirname "$(command -v initdb)")"; return 0
  fi
  return 1
}

_install_pg() {
  if [[ "$(id -u)" != 0 ]]; then
    _pg_log "no PostgreSQL binaries found and not root: install the postgresql package or set DATABASE_URL"
    return 1
  fi
  _pg_log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
}

_as_owner() {
  if [[ -n "$PG_RUN_AS" ]]; then runuser -u "$PG_RUN_AS" -- "$@"; else "$@"; fi
}

stop_throwaway_postgres() {
  if [[ -n "$PG_THROWAWAY_DIR" && -f "$PG_THROWAWAY_DIR/data/postmaster.pid" ]]; then
    _as_owner "$PG_BIN/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    _pg_log "stopped the throwaway cluster"
  fi
}

# The suite runs servers with several pools each, two tests at a time: it needs a server that
# admits this many connections (PostgreSQL's default, 100, is too few).
PG_MIN_CONNECTIONS=300

# _enough_connections URL: whether the server at URL admits PG_MIN_CONNECTIONS (true when psql
# is missing and it cannot be told).
_enough_connections() {
  command -v psql >/dev/null || return 0
  local n
  n="$(psql "$1" -Atc 'SHOW max_connections' 2>/dev/null)" || return 0
  [[ -z "$n" ]] && return 0
  if (( n < PG_MIN_CONNECTIONS )); then
    _pg_log "the server at ${1%%/postgres} admits $n connections, fewer than the $PG_MIN_CONNECTIONS the tests need"
    return 1
  fi
}

# start_throwaway_postgres DIR: initialises and starts a cluster in DIR on a free port and
# sets PG_THROWAWAY_URL to its admin URL.
start_throwaway_postgres() {
  local dir="$1" port
  _find_pg_bin || { _install_pg && _find_pg_bin; } || return 1
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ "$(id -u)" == 0 ]]; then
    # initdb refuses to run as root: the cluster belongs to the postgres system user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    PG_RUN_AS=postgres
    chown -R postgres "$dir"
    # Every directory above the cluster must be traversable by its owner.
    local d="$dir"
    while [[ "$d" != "/" ]]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
  fi
  rm -rf "$dir/data" "$dir/socket"
  _as_owner mkdir -p "$dir/socket"
  _as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
    || _as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
  port=55432
  while _port_answers 127.0.0.1 "$port"; do port=$((port + 1)); done
  _as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB" >/dev/null
  PG_THROWAWAY_DIR="$dir"
  _pg_log "started a throwaway cluster on 127.0.0.1:$port ($dir)"
  PG_THROWAWAY_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

ensure_postgres() {
  if [[ -n "${ANSLUT_TEST_DATABASE_URL:-}" ]]; then
    _pg_log "using ANSLUT_TEST_DATABASE_URL"
  elif [[ -n "${DATABASE_URL:-}" ]]; then
    export ANSLUT_TEST_DATABASE_URL="$DATABASE_URL"
    _pg_log "using DATABASE_URL"
  elif _port_answers 127.0.0.1 5432 \
    && _enough_connections "postgres://postgres@127.0.0.1:5432/postgres"; then
    export ANSLUT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    _pg_log "using the server on 127.0.0.1:5432"
  else
    # Run in this shell (not a subshell), so that the cluster's directory is known to
    # stop_throwaway_postgres.
    start_throwaway_postgres "${ANSLUT_PG_DIR:-target/pg-test}" || return 1
    trap stop_throwaway_postgres EXIT
    export ANSLUT_TEST_DATABASE_URL="$PG_THROWAWAY_URL"
  fi
}
