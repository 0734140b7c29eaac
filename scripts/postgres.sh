#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests and prints the admin URL.
#   scripts/postgres.sh start [PORT]   -> prints postgresql+psycopg://socle@127.0.0.1:PORT/postgres
#   scripts/postgres.sh stop [PORT]
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail
action=${1:-start}
port=${2:-55432}
datadir=/tmp/socle-pg-$port
bindir=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
if [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
  start)
    if as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
      echo "postgresql+psycopg://socle@127.0.0.1:$port/postgres"
      exit 0
    fi
    # Not running: start from a fresh cluster, whatever an earlier run left behind.
    rm -rf "$datadir"
    if [ ! -f "$datadir/PG_VERSION" ]; then
      mkdir -p "$datadir"
      [ "$(id -u)" = 0 ] && chown postgres "$datadir"
      as_owner "$bindir/initdb" -D "$datadir" -A trust -U socle >/dev/null
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    echo "postgresql+psycopg://socle@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_owner "$bindir/pg_ctl" -D "$datadir" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop [PORT]" >&2; exit 2 ;;
esac
