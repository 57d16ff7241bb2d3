#!/usr/bin/env bash
# A synchronous streaming standby of a `muster embedded` cluster, for the failover tests:
#   scripts/standby.sh create PRIMARY_DIR STANDBY_DIR   # prints the standby's URL
#   scripts/standby.sh crash PRIMARY_DIR                # pg_ctl stop -m immediate
#   scripts/standby.sh promote STANDBY_DIR              # waits until it accepts writes
#   scripts/standby.sh destroy STANDBY_DIR
# The standby is made with pg_basebackup -R, listens on a free port of 127.0.0.1, and the
# primary waits for it on every commit (synchronous_commit on, synchronous_standby_names
# '*'): a transaction the primary confirmed is on the standby when the primary crashes.
# Runs the PostgreSQL tools as the postgres OS user when invoked as root.
set -euo pipefail
cd "$(dirname "$0")/.."

muster=${MUSTER_BINARY:-$PWD/.build/debug/muster}
bindir=${MUSTER_PG_BINDIR:-$(pg_config --bindir)}
as_postgres=()
[ "$(id -u)" -ne 0 ] || as_postgres=(/usr/sbin/runuser -u postgres --)
# From /: the postgres user may not be allowed into the checkout (a clone under a mktemp -d
# directory is 0700), and the tools say so on stderr, which callers read with the URL.
pg() { (cd / && "${as_postgres[@]}" "$bindir/$1" "${@:2}"); }

# The data directory of a `muster embedded` cluster directory.
data_of() {
  local root=$1
  [ -f "$1/LOCATION" ] && root=$(cat "$1/LOCATION")
  echo "$root/data"
}


case "${1:-}" in
create)
  primary_dir=$2 standby_dir=$3
  primary_url=$("$muster" embedded status --dir "$primary_dir" --url)
  psql "$primary_url" -qAtc "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null
  mkdir -p "$standby_dir/run"
  chmod 755 "$standby_dir" "$standby_dir/run"
  [ "$(id -u)" -ne 0 ] || chown postgres "$standby_dir" "$standby_dir/run"
  data="$standby_dir/data"
  pg pg_basebackup -D "$data" -R -X stream -c fast -d "$primary_url" >/dev/null
  # The copied muster.conf is the primary's: its own port and socket directory. A port found
  # free may be taken by another test's server before this one binds it: then another port.
  for attempt in 1 2 3; do
    port=$(scripts/free-port.sh)
    sed -i -e "s|^port = .*|port = $port|" -e "s|^unix_socket_directories = .*|unix_socket_directories = '$standby_dir/run'|" "$data/muster.conf"
    pg pg_ctl start -w -t 60 -D "$data" -l "$data/postgres.log" >/dev/null && break
    echo "standby: the server did not start on port $port (attempt $attempt); its log:" >&2
    tail -n 5 "$data/postgres.log" >&2
    [ "$attempt" -lt 3 ] || exit 1
  done
  psql "$primary_url" -qAtc "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 1 100); do
    [ "$(psql "$primary_url" -qAtc "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] && break
    sleep 0.1
  done
  [ "$(psql "$primary_url" -qAtc "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] \
    || { echo "standby: not streaming synchronously; its log:" >&2; tail -n 20 "$data/postgres.log" >&2; exit 1; }
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  ;;
crash)
  pg pg_ctl stop -m immediate -w -D "$(data_of "$2")" >/dev/null
  ;;
promote)
  pg pg_ctl promote -w -t 60 -D "$2/data" >/dev/null
  ;;
destroy)
  pg pg_ctl stop -m immediate -w -D "$2/data" >/dev/null 2>&1 || true
  rm -rf "$2"
  ;;
*)
  echo "usage: scripts/standby.sh create PRIMARY_DIR STANDBY_DIR | crash PRIMARY_DIR | promote STANDBY_DIR | destroy STANDBY_DIR" >&2
  exit 2
  ;;
esac
