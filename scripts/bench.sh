#!/usr/bin/env bash
# Benchmarks Muster beside the raw-SQL limit: pgbench (-M prepared) running the same
# statements on the same server in the same run. Writes the section into docs/benchmarks.md,
# then the hot-path targets read from it (## Targets). `all` runs the queue, barrier, worker
# and statements suites on one server, one after the other; `dashboard` (page and /metrics
# times over a 10,000,000-row history), `soak` (bloat under a held snapshot, 3 runs of
# --minutes each, 12 by default) and `retention` (a day of 1,000,000 archived rows dropped)
# run only when named.
#   scripts/bench.sh queue|worker|barrier|statements|dashboard|soak|retention|all [--runs 3] [--seconds 8] [--minutes 12] [--rate R] [--database-url URL]
# Without --database-url it starts a throwaway cluster with durable settings (fsync and
# synchronous_commit on) and removes it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${1:-}
[ $# -gt 0 ] && shift
case "$suite" in
  queue|worker|barrier|statements|dashboard|soak|retention) suites=("scripts/bench/$suite.sh") ;;
  all) suites=(scripts/bench/queue.sh scripts/bench/barrier.sh scripts/bench/worker.sh scripts/bench/statements.sh) ;;
  *) echo "usage: scripts/bench.sh queue|worker|barrier|statements|dashboard|soak|retention|all [--runs N] [--seconds S] [--minutes M] [--rate R] [--database-url URL]" >&2; exit 2 ;;
esac

export BENCH_RUNS=3 BENCH_SECONDS=8
url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) BENCH_RUNS=$2; shift 2 ;;
    --seconds) BENCH_SECONDS=$2; shift 2 ;;
    --minutes) export BENCH_MINUTES=$2; shift 2 ;;
    --rate) export BENCH_RATE=$2; shift 2 ;;
    --database-url) url=$2; shift 2 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/ensure-postgres.sh
swift build -c release --product muster >&2
export MUSTER_BINARY="$PWD/.build/release/muster"
export BENCH_COMMAND="scripts/bench.sh $suite --runs $BENCH_RUNS --seconds $BENCH_SECONDS${BENCH_MINUTES:+ --minutes $BENCH_MINUTES}${BENCH_RATE:+ --rate $BENCH_RATE}"

run_all='for script in "$@"; do "$script"; done'
if [ -n "$url" ]; then
  BENCH_URL="$url" bash -c "$run_all" _ "${suites[@]}"
else
  scripts/with-postgres.sh --durable bash -c "$run_all" _ "${suites[@]}"
fi
scripts/bench/targets.sh >/dev/null
