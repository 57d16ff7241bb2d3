#!/usr/bin/env bash
# The hot-path targets (issue 14) checked against the figures in docs/benchmarks.md: reads the
# Queue, Barrier and Worker sections' tables and writes a "## Targets" section with each ratio, its
# goal and whether it is met. Run by scripts/bench.sh after the queue and barrier suites;
# it measures nothing itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH_URL=${BENCH_URL:-unused} MUSTER_BINARY=${MUSTER_BINARY:-unused} source scripts/bench/common.sh
doc=docs/benchmarks.md

# rows SECTION: the table rows of "## SECTION", one per line, cells separated by "|".
rows() { awk -v name="## $1" '$0 == name { on = 1; next } on && /^## / { on = 0 } on && /^\| [a-z]/' "$doc"; }

out=$(mktemp)
{
  echo "## Targets"
  echo
  echo "The targets, read from the Queue, Barrier and Worker tables above (each figure a median of interleaved runs on one server). SQL / limit: Muster's statements through pgbench against the plain-SQL limit; Swift / SQL: Muster's Swift API against its statements."
  echo
  echo "| target | workload | clients | measured | goal | met |"
  echo "|---|---|---|---|---|---|"
  rows Queue | awk -F'|' '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    function row(target, workload, clients, value, goal) {
      printf "| %s | %s | %s | %.2f | ≥ %.1f | %s |\n", target, workload, clients, value, goal, (value >= goal ? "yes" : "no")
    }
    {
      workload = trim($2); clients = trim($3); swiftSQL = trim($7); sqlLimit = trim($8)
      if (workload ~ /^send 1 / && clients == 16) next
      if (workload !~ /^(send 1 |send 100|read 10)/) next
      row("SQL / limit", workload, clients, sqlLimit, 0.8)
      row("Swift / SQL", workload, clients, swiftSQL, 0.9)
    }'
  rows Barrier | awk -F'|' '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    function row(target, workload, clients, value, goal) {
      printf "| %s | %s | %s | %.2f | ≥ %.1f | %s |\n", target, workload, clients, value, goal, (value >= goal ? "yes" : "no")
    }
    trim($2) ~ /^fan-in on one barrier, statistics/ && NF >= 10 {
      workload = trim($2); clients = trim($3)
      row("SQL / limit", workload, clients, trim($8), 0.8)
      row("Swift / SQL", workload, clients, trim($7), 0.9)
      if (workload ~ /after the lease/) fresh[clients] = trim($5); else stale[clients] = trim($5)
    }
    END {
      split("1 4 16", order, " ")
      for (i = 1; i <= 3; i++) { c = order[i]; if (c in stale && fresh[c] > 0)
        row("without ANALYZE / with", "fan-in completions (SQL)", c, stale[c] / fresh[c], 0.9) }
    }'
  rows Worker | awk -F'|' '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    function row(target, workload, clients, value, goal, shown) {
      printf "| %s | %s | %s | %.2f | ≥ %s | %s |\n", target, workload, clients, value, shown, (value >= goal ? "yes" : "no")
    }
    trim($2) ~ /^drain 20,000/ && NF >= 13 {
      best = trim($10) > trim($11) ? trim($10) : trim($11)
      row("Worker (defaults or tuned, the faster) / its SQL", trim($2), trim($3), best, 0.8, "0.8")
      row("Worker defaults / tuned", trim($2), trim($3), trim($9), 0.8, "0.8")
    }
    trim($2) ~ /LISTEN/ && NF >= 9 {
      row("pickup floor / Worker, p50", trim($2), 1, trim($7), 1 / 1.2, "0.83 (p50 ≤ 1.2 × floor)")
      row("pickup floor / Worker, p99", trim($2), 1, trim($8), 0.5, "0.5 (p99 ≤ 2 × floor)")
    }'
  inflight=$(awk '/^Leased rows ahead of ready ones:/ { for (i = 1; i <= NF; i++) if ($i == "at") { print $(i + 1); exit } }' "$doc")
  if [ -n "$inflight" ]; then
    awk -v v="$inflight" 'BEGIN { printf "| leased ahead / none | read 10 + ack, 100,000 leased before 1,000,000 ready | 1 | %.2f | ≥ 0.9 | %s |\n", v, (v >= 0.9 ? "yes" : "no") }'
  fi
  echo
} > "$out"
write_section Targets "$out"
cat "$out"
rm -f "$out"
