#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster:
#   scripts/with-postgres.sh [--durable] COMMAND [ARGS...]
# The cluster lives in a temp dir on a free port (run as the postgres OS user when invoked as
# root), is exported to the command as MUSTER_TEST_DATABASE_URL (and PG* variables), and is
# stopped and removed on exit, failure or Ctrl-C. --durable keeps fsync and synchronous
# commit on (benchmarks); the default turns them off (tests).
set -euo pipefail
cd "$(dirname "$0")/.."

fast="--fast"
if [ "${1:-}" = "--durable" ]; then fast=""; shift; fi
[ $# -gt 0 ] || { echo "usage: scripts/with-postgres.sh [--durable] COMMAND [ARGS...]" >&2; exit 2; }

muster=${MUSTER_BINARY:-$PWD/.build/debug/muster}
[ -x "$muster" ] || { echo "with-postgres: $muster is not built (swift build first)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/muster-pg.XXXXXX")
chmod 755 "$work"
cleanup() {
  "$muster" embedded destroy --dir "$work/cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The suite runs ~170 tests at once, each with its own pool: room for all of them.
url=$("$muster" embedded start --dir "$work/cluster" $fast --max-connections 500 --url)
# Fail loudly, never skip, when the server does not answer.
psql "$url" -qAtc 'select 1' >/dev/null || { echo "with-postgres: the throwaway server at $url does not answer" >&2; exit 1; }

export MUSTER_TEST_DATABASE_URL="$url"
port=${url##*:}; port=${port%%/*}
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
echo "with-postgres: PostgreSQL $(psql "$url" -qAtc 'show server_version') at $url" >&2
"$@"
