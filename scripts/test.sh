#!/usr/bin/env bash
# The one test command: builds, starts a throwaway PostgreSQL 15, runs every unit and
# integration test against it, removes it, and fails when no test ran.
#   scripts/test.sh [swift test options, e.g. --filter Migrations]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
swift build --build-tests

log=$(mktemp "${TMPDIR:-/tmp}/muster-test-log.XXXXXX")
trap 'rm -f "$log"' EXIT

set +e
MUSTER_BINARY="$PWD/.build/debug/muster" scripts/with-postgres.sh \
  swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# `swift test --filter X` exits 0 when X matches nothing: count what actually ran.
ran=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
failed=$(grep -E 'Test .* failed after' "$log" | grep -vc 'Test run with' || true)
ran=${ran:-0}
if [ "$ran" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
echo "tests: $((ran - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
