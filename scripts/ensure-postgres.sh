#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries and libpq headers are installed (Debian/Ubuntu:
# apt). Does nothing when they are already there.
set -euo pipefail

have_server() {
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null) || return 1
  [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/postgres" ]
}

if have_server && [ -f "$(pg_config --includedir 2>/dev/null)/libpq-fe.h" ] && command -v psql >/dev/null; then
  exit 0
fi

echo "Installing PostgreSQL 15 server and libpq headers with apt..." >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install postgresql-15 and libpq-dev" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq postgresql-15 postgresql-client-15 libpq-dev >/dev/null \
  || $sudo apt-get install -y -qq postgresql postgresql-client libpq-dev >/dev/null
have_server || { echo "PostgreSQL server binaries still missing after apt-get install" >&2; exit 1; }
