#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries, libpq headers and PgBouncer (the pooler tests)
# are installed (Debian/Ubuntu: apt). Does nothing when they are already there.
set -euo pipefail

have_server() {
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null) || return 1
  [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/postgres" ]
}

have_all() {
  have_server && [ -f "$(pg_config --includedir 2>/dev/null)/libpq-fe.h" ] && command -v psql >/dev/null \
    && { command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; }
}

if have_all; then
  exit 0
fi

echo "Installing PostgreSQL 15 server, libpq headers and PgBouncer with apt..." >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install postgresql-15, libpq-dev and pgbouncer" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
install() {
  $sudo apt-get install -y -qq postgresql-15 postgresql-client-15 libpq-dev pgbouncer >/dev/null \
    || $sudo apt-get install -y -qq postgresql postgresql-client libpq-dev pgbouncer >/dev/null
}
install || { $sudo apt-get update -qq && install; }
# The package may start its own PgBouncer service; the tests start theirs on a free port.
have_all || { echo "PostgreSQL server binaries, libpq headers or pgbouncer still missing after apt-get install" >&2; exit 1; }
