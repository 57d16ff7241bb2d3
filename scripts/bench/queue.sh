#!/usr/bin/env bash
# The queue benchmark (run by scripts/bench.sh queue).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

schema=(--database-url "$url" --schema bench)
"$muster" migrate "${schema[@]}" >/dev/null
"$muster" queue create bench --visibility-timeout 5m "${schema[@]}" >/dev/null

reset() { sql "TRUNCATE bench.messages, bench.message_keys, bench.archive, bench.dead_letters" >/dev/null; }
prefill() {
  local left=$1
  while [ "$left" -gt 0 ]; do
    local n=$(( left < 200000 ? left : 200000 ))
    sql "SELECT count(*) FROM bench.send('bench', array_fill('{\"n\":1}'::jsonb, ARRAY[$n]),
         ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $n)))" >/dev/null
    left=$(( left - n ))
  done
  sql "VACUUM ANALYZE bench.messages" >/dev/null
}
lease_in_flight() {
  for _ in $(seq 1 $(( $1 / 1000 ))); do
    sql "SELECT count(*) FROM bench.read('bench', 1000, '2 hours', 'holder')" >/dev/null
  done
  sql "VACUUM ANALYZE bench.messages" >/dev/null
}

rows=()
medians=()
# measure LABEL CLIENTS WORKLOAD JOBS_PER_TX SETUP...: median Muster and pgbench rates.
measure() {
  local label=$1 clients=$2 workload=$3 jobs=$4; shift 4
  local ours=() limit=()
  for _ in $(seq 1 "$runs"); do
    "$@"
    limit+=("$(pgbench_rate "scripts/bench/queue/$workload.sql" "$clients" "$jobs")")
    "$@"
    ours+=("$("$muster" bench "${schema[@]}" --workload "$workload" --clients "$clients" --seconds "$seconds")")
  done
  local m l
  m=$(median "${ours[@]}"); l=$(median "${limit[@]}")
  rows+=("| $label | $clients | $m | $l | $(ratio "$m" "$l") |")
  medians+=("$m")
  echo "$label c=$clients: muster ${ours[*]} / limit ${limit[*]}" >&2
}

measure "send 1" 1 send1 1 reset
measure "send 1" 4 send1 1 reset
measure "send batch of 100" 1 send100 100 reset
measure "read 1 + ack" 1 read1ack 1 eval reset\; prefill 80000
measure "read 1 + ack" 4 read1ack 1 eval reset\; prefill 120000
measure "read 10 + batched ack" 1 read10ack 10 eval reset\; prefill 250000
measure "read 10 + batched ack" 4 read10ack 10 eval reset\; prefill 400000
measure "read 10 + ack, 1,000,000 ready" 1 read10ack 10 eval reset\; prefill 1000000
measure "read 10 + ack, 1,000,000 ready + 50,000 leased" 1 read10ack 10 eval reset\; prefill 1000000\; lease_in_flight 50000

out=$(mktemp)
{
  echo "## Queue"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs runs of ${seconds} s per figure; $(nproc) vCPU)."
  echo
  echo "Server: $(server_settings). The limit is pgbench -M prepared running the statements in scripts/bench/queue/*.sql, which are the calls Muster makes."
  echo
  echo "| workload | clients | Muster jobs/s | limit jobs/s | ratio |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  n=${#medians[@]}
  echo "In-flight rows: with 50,000 leased rows present, Muster's read 10 + ack ran at $(ratio "${medians[$((n - 1))]}" "${medians[$((n - 2))]}") of its rate over the same 1,000,000 ready rows without them (target ≥ 0.8): leased rows are not in the index the read walks."
  echo
  echo "At 4 clients the client shares the 2 vCPUs with the server. Each Muster statement costs three thread wake-ups (the task, the connection's own thread, the resumption) where pgbench pays one, and under saturation each waits in the run queue; that is the gap in the 4-client read + ack rows."
  echo
} > "$out"
write_section Queue "$out"
cat "$out"
rm -f "$out"
