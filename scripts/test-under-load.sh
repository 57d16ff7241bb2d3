#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh) while both cores are kept busy by another
# process, N times, to prove the suite does not depend on how fast the machine is.
#   scripts/test-under-load.sh [--runs N] [--workers N] [scripts/test.sh options]
# The load is `stress-ng --cpu <workers>` (default: one per core; installed with apt when
# missing). It starts after a build without load (the build is not under test) and is
# stopped when the runs end, also on failure or Ctrl-C. Prints each run's
# `tests: N passed, M failed` line and a total; exits non-zero if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
workers=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    --workers) workers=$2; shift 2 ;;
    --workers=*) workers=${1#--workers=}; shift ;;
    *) break ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "test-under-load.sh: --runs must be a positive number" >&2; exit 2 ;; esac

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "test-under-load.sh: installing stress-ng with apt" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng; } >/dev/null
fi

scripts/ensure-postgres.sh
swift build --build-tests

results=$(mktemp "${TMPDIR:-/tmp}/muster-under-load.XXXXXX")
load_pid=
stop_load() {
  if [ -n "$load_pid" ]; then
    kill -TERM "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load_pid=
  fi
}
trap 'stop_load; rm -f "$results"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --timeout 0: runs until stopped. Nice 0, the same priority as the tests.
stress-ng --cpu "$workers" --timeout 0 --quiet &
load_pid=$!
sleep 1
kill -0 "$load_pid" 2>/dev/null || { echo "test-under-load.sh: stress-ng did not start" >&2; exit 1; }
echo "test-under-load.sh: $workers CPU hogs running (pid $load_pid) on $(nproc) cores, $runs runs"

failed_runs=0 total_passed=0 total_failed=0 summary=()
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  set +e
  scripts/test.sh "$@" 2>&1 | tee "$results"
  status=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed$' "$results" | tail -n 1 || true)
  kill -0 "$load_pid" 2>/dev/null || { echo "test-under-load.sh: the load stopped during run $run" >&2; exit 1; }
  if [ -z "$line" ]; then
    line="tests: 0 passed, 1 failed (no count: test.sh exited $status)"
    passed=0 failed=1
  else
    passed=$(echo "$line" | awk '{print $2}')
    failed=$(echo "$line" | awk '{print $4}')
  fi
  [ "$status" -eq 0 ] && [ "$failed" -eq 0 ] || failed_runs=$((failed_runs + 1))
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
  summary+=("run $run of $runs ($(( $(date +%s) - started )) s): $line")
  echo "test-under-load.sh: ${summary[-1]}"
done
stop_load

echo
printf 'under load, %s\n' "${summary[@]}"
echo "under load: $runs runs, $failed_runs with failures"
echo "total: $total_passed passed, $total_failed failed"
[ "$failed_runs" -eq 0 ]
