#!/usr/bin/env bash
# Runs a command with PgBouncer in transaction mode in front of the server at
# $MUSTER_TEST_DATABASE_URL (scripts/with-postgres.sh starts that one):
#   scripts/with-pgbouncer.sh COMMAND [ARGS...]
# PgBouncer (Debian's package; scripts/ensure-postgres.sh installs it) listens on a free
# port of 127.0.0.1, pools in transaction mode with no prepared-statement support (as
# Debian 12's 1.18 does), runs as the postgres OS user when invoked as root, and is stopped
# on exit. The command gets MUSTER_TEST_PGBOUNCER_URL (through PgBouncer) beside
# MUSTER_TEST_DATABASE_URL (direct).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: scripts/with-pgbouncer.sh COMMAND [ARGS...]" >&2; exit 2; }
direct=${MUSTER_TEST_DATABASE_URL:?scripts/with-pgbouncer.sh runs inside scripts/with-postgres.sh}
server_port=${direct##*:}; server_port=${server_port%%/*}
pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$pgbouncer" ] || { echo "with-pgbouncer: pgbouncer is not installed (scripts/ensure-postgres.sh installs it)" >&2; exit 1; }


work=$(mktemp -d "${TMPDIR:-/tmp}/muster-pgbouncer.XXXXXX")
chmod 755 "$work"
port=$("$(dirname "$0")/free-port.sh")
cat > "$work/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$server_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 100
server_reset_query =
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
echo '"postgres" ""' > "$work/users.txt"
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$work"; as_postgres=(/usr/sbin/runuser -u postgres --); fi

cleanup() {
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_postgres[@]}" "$pgbouncer" -d -q "$work/pgbouncer.ini"
url="postgresql://postgres@127.0.0.1:$port/postgres"
for _ in $(seq 1 100); do
  psql "$url" -qAtc 'select 1' >/dev/null 2>&1 && break
  sleep 0.1
done
psql "$url" -qAtc 'select 1' >/dev/null || { echo "with-pgbouncer: PgBouncer at $url does not answer; its log:" >&2; cat "$work/pgbouncer.log" >&2; exit 1; }
echo "with-pgbouncer: $("$pgbouncer" --version | head -n 1), transaction mode, at $url" >&2
export MUSTER_TEST_PGBOUNCER_URL="$url"
"$@"
