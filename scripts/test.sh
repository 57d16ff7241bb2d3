#!/usr/bin/env bash
# The one test command: builds, starts a throwaway PostgreSQL 15, runs every unit and
# integration test against it, removes it, and fails when no test ran.
#   scripts/test.sh [swift test options, e.g. --filter Migrations]
# Without options it runs seven phases on one server: everything except the load suites;
# the load suites alone; then the pooler suites twice through PgBouncer in transaction mode
# (LISTEN on a direct connection, then polling), and its backend-terminating tests alone;
# the tracing tests, the only phase with a tracer bootstrapped; last the suites that need the
# database to themselves (a REINDEX CONCURRENTLY waits for every older transaction in it). No test races the clock
# (scripts/test-under-load.sh proves it with every core busy); the split only keeps the load
# suites' own worker pools and server restarts from queueing behind 150 other tests for
# connections.
set -euo pipefail
cd "$(dirname "$0")/.."

# Suites that saturate the machine (a regex for --skip/--filter); run after the rest.
load_suites="BarrierLoadTests|DemoTests|ServerRestartTests|FailoverTests|CLIFuzzTests"
# Suites that wait for every other transaction of the database: run alone, last.
quiet_suites="IndexCompactionIntegrationTests"
# Suites run again through PgBouncer in transaction mode (scripts/with-pgbouncer.sh), once
# with LISTEN on a direct connection and once polling. Left out there: tests that start a
# server of their own (PgBouncer is not in front of it); the ack-after-termination tests,
# which count the client's own backends (behind a pooler a client owns none between
# statements); and, when polling, the test only a NOTIFY can pass (PoolerTests checks the
# polling). Tests that terminate backends run in a phase of their own: behind a pooler a
# terminated backend may be serving any client, so they would cut other tests' statements.
pooler_suites="QueueDeliveryTests|QueueSafetyTests|WorkerProcessTests|FaultToleranceTests|PipelineTests|BarrierFanInTests"
pooler_terminating="terminatingEveryConnectionDuringARun|orchestratorKilledAfterItsFanOutCommits"
pooler_skip="workerStartedWhileTheServerIsDown|ackSurvivesTermination|$pooler_terminating"
# MUSTER_TEST_DIRECT_URL: the tests' own statements (TestDatabase.connect) stay on the server itself.
through_pooler='MUSTER_TEST_DIRECT_URL=$MUSTER_TEST_DATABASE_URL MUSTER_TEST_DATABASE_URL=$MUSTER_TEST_PGBOUNCER_URL MUSTER_STATEMENTS=unnamed'

scripts/ensure-postgres.sh
scripts/ensure-chromium.sh
swift build --build-tests

logs=$(mktemp -d "${TMPDIR:-/tmp}/muster-test-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT

if [ $# -gt 0 ]; then
  printf -v quoted '%q ' "$@"
  phases=("$quoted")
else
  phases=(
    "--skip $(printf '%q' "$load_suites|$quiet_suites")"
    "--filter $(printf '%q' "$load_suites")"
    "--filter $(printf '%q' "$pooler_suites") --skip $(printf '%q' "$pooler_skip") # env $through_pooler MUSTER_LISTEN_URL=\$MUSTER_TEST_DATABASE_URL"
    "--filter $(printf '%q' "$pooler_suites") --skip $(printf '%q' "$pooler_skip|longPollWakesOnSend") # env $through_pooler"
    "--filter $(printf '%q' "$pooler_terminating") # env $through_pooler MUSTER_LISTEN_URL=\$MUSTER_TEST_DATABASE_URL"
    "--filter TracingTests # env MUSTER_TEST_TRACING=1"
    "--filter $(printf '%q' "$quiet_suites")"
  )
fi

# One server for every phase: phases run inside one with-postgres.sh.
phase_script=$logs/phases.sh
{
  echo 'set +e; status=0; n=0'
  for phase in "${phases[@]}"; do
    # "ARGS # env VAR=VALUE..." runs ARGS with those variables (expanded inside the phases).
    args=${phase%% # env *}
    environment=""
    [ "$args" = "$phase" ] || environment="env ${phase#* # env }"
    # A hung test fails its phase after 20 minutes instead of holding CI to its limit.
    echo "n=\$((n + 1)); timeout --kill-after=30 1200 $environment swift test --skip-build $args 2>&1 | tee \"$logs/phase.\$n.log\"; rc=\${PIPESTATUS[0]}; [ \$rc -eq 0 ] || status=1; [ \$rc -ne 124 ] || echo 'test.sh: a test phase timed out after 20 minutes' >&2"
  done
  echo 'exit $status'
} > "$phase_script"

set +e
MUSTER_BINARY="$PWD/.build/debug/muster" scripts/with-postgres.sh scripts/with-pgbouncer.sh bash "$phase_script"
status=$?
set -e

# `swift test --filter X` exits 0 when X matches nothing: count what actually ran.
ran=0 failed=0
for log in "$logs"/phase.*.log; do
  [ -f "$log" ] || continue
  n=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
  f=$(grep -E 'Test .* failed after' "$log" | grep -vc 'Test run with' || true)
  ran=$((ran + ${n:-0})); failed=$((failed + ${f:-0}))
done
if [ "$ran" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
# What failed, repeated last: CI keeps only the tail of the output.
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "test.sh: what failed (phase: line):"
  for log in "$logs"/phase.*.log; do
    [ -f "$log" ] || continue
    grep -E '(recorded an issue|failed after|timed out|Fatal error|error: )' "$log" \
      | grep -v 'Test run with' | head -n 40 | sed "s|^|  $(basename "$log" .log): |" || true
  done
fi
echo "tests: $((ran - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
