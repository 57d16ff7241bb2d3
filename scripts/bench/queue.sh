#!/usr/bin/env bash
# The queue benchmark (run by scripts/bench.sh queue). For each hot path and 1, 4 and 16
# clients, three figures from the same server in the same run, interleaved run by run:
#   Swift     Muster through its Swift API (muster bench);
#   SQL       Muster's own statements through pgbench (scripts/bench/queue/*.sql): what the
#             Swift client sends, without the client;
#   limit     the plain-SQL limit (scripts/bench/limits/*.sql): what PostgreSQL needs for the
#             same job with one plain table, no functions.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

schema=(--database-url "$url" --schema bench)
"$muster" migrate "${schema[@]}" >/dev/null
"$muster" queue create bench --visibility-timeout 5m "${schema[@]}" >/dev/null
psql "$url" -qX -v ON_ERROR_STOP=1 -f scripts/bench/limits/limits-schema.sql >/dev/null

reset() {
  sql "TRUNCATE bench.messages, bench.message_keys, bench.archive, bench.dead_letters" >/dev/null
  sql "TRUNCATE q, q_dedup" >/dev/null
}
# prefill N: N ready messages in Muster's queue and N rows in the limit's table.
prefill() {
  reset
  local left=$1
  while [ "$left" -gt 0 ]; do
    local n=$(( left < 200000 ? left : 200000 ))
    sql "SELECT count(*) FROM bench.send_batch('bench', array_fill('{\"n\":1}'::jsonb, ARRAY[$n]),
         ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $n)), notify => false)" >/dev/null
    sql "INSERT INTO q (queue, payload) SELECT 'default', '{\"task\":\"noop\",\"n\":1}' FROM generate_series(1, $n)" >/dev/null
    left=$(( left - n ))
  done
  sql "VACUUM ANALYZE bench.messages" >/dev/null
  sql "VACUUM ANALYZE q" >/dev/null
}
lease_in_flight() {
  for _ in $(seq 1 $(( $1 / 1000 ))); do
    sql "SELECT count(*) FROM bench.read('bench', 1000, '2 hours', 'holder')" >/dev/null
  done
  sql "VACUUM ANALYZE bench.messages" >/dev/null
}
# Reads must never empty their table: a drained run measured nothing.
ready_left() {
  require_rows "Muster's read" "SELECT count(*) FROM bench.messages WHERE state = 'ready'"
  require_rows "the limit's lease" "SELECT count(*) FROM q WHERE vt <= now()"
}

rows=()
# measure LABEL CLIENTS JOBS WORKLOAD LIMIT_SCRIPT "LIMIT OPTIONS" SETUP...
measure() {
  local label=$1 clients=$2 jobs=$3 workload=$4 limit_script=$5 limit_options=$6; shift 6
  local swift=() ours=() limit=()
  for _ in $(seq 1 "$runs"); do
    "$@"
    # shellcheck disable=SC2086
    limit+=("$(pgbench_rate "scripts/bench/limits/$limit_script" "$clients" "$jobs" $limit_options)")
    ours+=("$(pgbench_rate "scripts/bench/queue/$workload.sql" "$clients" "$jobs")")
    [ "$workload" = "${workload#read}" ] || ready_left
    "$@"
    swift+=("$("$muster" bench "${schema[@]}" --workload "$workload" --clients "$clients" --seconds "$seconds")")
    [ "$workload" = "${workload#read}" ] || ready_left
  done
  local s m l
  s=$(median "${swift[@]}"); m=$(median "${ours[@]}"); l=$(median "${limit[@]}")
  rows+=("| $label | $clients | $s | $m | $l | $(ratio "$s" "$m") | $(ratio "$m" "$l") | $(ratio "$s" "$l") |")
  echo "$label c=$clients: swift ${swift[*]} / sql ${ours[*]} / limit ${limit[*]}" >&2
}

for c in 1 4 16; do measure "send 1 (a dedup key each)" "$c" 1 send1 enqueue_dedup.sql "" reset; done
for c in 1 4 16; do measure "send 100 per statement" "$c" 100 send100 enqueue_batch.sql "-D batch=100" reset; done
for c in 1 4 16; do measure "read 10 + batched ack" "$c" 10 read10ack lease.sql "-D batch=10" prefill $(( c == 1 ? 200000 : 400000 )); done

# Leased rows ahead of the ready ones: the read walks an index of ready rows only.
inflight=()
for _ in $(seq 1 "$runs"); do
  prefill 1000000
  plain=$("$muster" bench "${schema[@]}" --workload read10ack --clients 1 --seconds "$seconds")
  ready_left
  prefill 1100000; lease_in_flight 100000
  behind=$("$muster" bench "${schema[@]}" --workload read10ack --clients 1 --seconds "$seconds")
  ready_left
  inflight+=("$(ratio "$behind" "$plain")")
  echo "in flight: $behind / $plain" >&2
done

out=$(mktemp)
{
  echo "## Queue"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs interleaved runs of ${seconds} s per figure; $(nproc) vCPU, client and server on the same machine)."
  echo
  echo "Server: $(server_settings)."
  echo
  echo "Swift: Muster through its Swift API (\`muster bench\`). SQL: Muster's own statements through pgbench -M prepared (scripts/bench/queue/*.sql, what the Swift client sends). Limit: the plain-SQL limit through pgbench (scripts/bench/limits/*.sql: one plain table, no functions). Every read run is checked to end with ready rows left."
  echo
  echo "| workload | clients | Swift jobs/s | SQL jobs/s | limit jobs/s | Swift / SQL | SQL / limit | Swift / limit |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Leased rows ahead of ready ones: with 100,000 leased rows beside 1,000,000 ready, read 10 + ack ran at $(median "${inflight[@]}") of its rate without them (target ≥ 0.9): leased rows are not in the index the read walks."
  echo
} > "$out"
write_section Queue "$out"
cat "$out"
rm -f "$out"
