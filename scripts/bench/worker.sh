#!/usr/bin/env bash
# The worker benchmark (run by scripts/bench.sh worker).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

schema=(--database-url "$url" --schema bench)
"$muster" migrate "${schema[@]}" >/dev/null
"$muster" queue create bench --visibility-timeout 5m "${schema[@]}" >/dev/null
total=20000

reset() { sql "TRUNCATE bench.messages, bench.message_keys, bench.archive, bench.dead_letters" >/dev/null; }
# prefill [N]: N (default: the drained total) ready no-op messages. The pgbench side runs for
# a fixed time, so it gets many more and must end with some left (checked).
prefill() {
  reset
  local n=${1:-$total}
  sql "SELECT count(*) FROM bench.send_batch('bench', array_fill('{}'::jsonb, ARRAY[$n]),
       ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $n)), NULL,
       array_fill('noop'::text, ARRAY[$n]), notify => false)" >/dev/null
  sql "VACUUM ANALYZE bench.messages" >/dev/null
}
limit_total=400000
ready_left() { require_rows "the limit's read + ack" "SELECT count(*) FROM bench.messages WHERE state = 'ready'"; }

# The statements a worker issues: a read of up to 10, then acks grouped into one fenced
# statement (the worker's acks are group-committed): scripts/bench/queue/read10ack.sql.
script=scripts/bench/queue/read10ack.sql

# The plain-SQL limit: lease 10 + delete on one plain table (scripts/bench/limits/lease.sql).
psql "$url" -qX -v ON_ERROR_STOP=1 -f scripts/bench/limits/limits-schema.sql >/dev/null
plain_prefill() {
  sql "TRUNCATE q" >/dev/null
  sql "INSERT INTO q (queue, payload) SELECT 'default', '{}' FROM generate_series(1, $limit_total)" >/dev/null
  sql "VACUUM ANALYZE q" >/dev/null
}

rows=()
for concurrency in 1 4 16; do
  ours=() limit=() plain=()
  for _ in $(seq 1 "$runs"); do
    plain_prefill
    plain+=("$(pgbench_rate scripts/bench/limits/lease.sql "$concurrency" 10 -D batch=10)")
    require_rows "the plain limit's lease" "SELECT count(*) FROM q"
    prefill "$limit_total"
    limit+=("$(pgbench_rate "$script" "$concurrency" 10)")
    ready_left
    prefill
    ours+=("$("$muster" bench "${schema[@]}" --workload drain --concurrency "$concurrency")")
  done
  m=$(median "${ours[@]}"); l=$(median "${limit[@]}"); p=$(median "${plain[@]}")
  rows+=("| drain 20,000, no-op handler | 1 × $concurrency | $m | $l | $p | $(ratio "$m" "$l") | $(ratio "$l" "$p") | $(ratio "$m" "$p") |")
  echo "drain c=$concurrency: muster ${ours[*]} / sql ${limit[*]} / limit ${plain[*]}" >&2
done

ours=() limit=() plain=()
for _ in $(seq 1 "$runs"); do
  plain_prefill
  plain+=("$(pgbench_rate scripts/bench/limits/lease.sql 16 10 -D batch=10)")
  require_rows "the plain limit's lease" "SELECT count(*) FROM q"
  prefill "$limit_total"
  limit+=("$(pgbench_rate "$script" 16 10)")
  ready_left
  prefill
  start=$(date +%s.%N)
  "$muster" bench "${schema[@]}" --workload drain --concurrency 8 >/dev/null &
  first=$!
  "$muster" bench "${schema[@]}" --workload drain --concurrency 8 >/dev/null
  wait "$first"
  ours+=("$(awk -v s="$start" -v e="$(date +%s.%N)" -v n="$total" 'BEGIN { printf "%.1f", n / (e - s) }')")
done
m=$(median "${ours[@]}"); l=$(median "${limit[@]}"); p=$(median "${plain[@]}")
rows+=("| drain 20,000, no-op handler | 2 × 8 | $m | $l | $p | $(ratio "$m" "$l") | $(ratio "$l" "$p") | $(ratio "$m" "$p") |")
echo "drain 2x8: muster ${ours[*]} / sql ${limit[*]} / limit ${plain[*]}" >&2

# Latency floor: one read + ack round trip pair on an idle server, as pgbench reports it.
reset
floor=$(pgbench -n -M prepared -c 1 -j 1 -T "$seconds" -f scripts/bench/queue/send1.sql "$url" 2>&1 | awk '/^latency average/ { print $4; exit }')
latency_rows=()
for mode in listen poll; do
  p50s=() p99s=()
  for _ in $(seq 1 "$runs"); do
    reset
    read -r p50 p99 < <("$muster" bench "${schema[@]}" --workload latency --rate 50 --seconds "$seconds" \
      --listen "$([ $mode = listen ] && echo true || echo false)" --poll-interval 100ms)
    p50s+=("$p50"); p99s+=("$p99")
  done
  latency_rows+=("| enqueue → handler start, 50 sends/s, $([ $mode = listen ] && echo "LISTEN/NOTIFY" || echo "polling every 100 ms") | $(median "${p50s[@]}") | $(median "${p99s[@]}") | $floor | $(ratio "$floor" "$(median "${p50s[@]}")") |")
  echo "latency $mode: p50 ${p50s[*]} p99 ${p99s[*]}" >&2
done

out=$(mktemp)
{
  echo "## Worker"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs runs; $(nproc) vCPU)."
  echo
  echo "Server: $(server_settings). SQL: pgbench -M prepared, with as many clients as the worker has handlers, running what a worker issues: a read of 10, then one batched fenced ack (scripts/bench/queue/read10ack.sql; the worker group-commits acks of handlers that finish while an ack is in flight). Limit: the plain-SQL limit, lease 10 + delete on one plain table (scripts/bench/limits/lease.sql). Both pgbench runs are checked to end with rows left. The worker reads batches of 10 (prefetch tops a small concurrency up to the batch)."
  echo
  echo "| workload | processes × concurrency | Worker jobs/s | SQL jobs/s | limit jobs/s | Worker / SQL | SQL / limit | Worker / limit |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Why the worker sits below its SQL: pgbench runs as many independent read+ack streams as there are clients, while one worker process has one fetch loop and one group-committed ack stream, so at most two of its statements (each a commit: a read leases, so it writes) are in flight whatever its concurrency; the Swift process also shares the 2 vCPUs with the server. An earlier profile of the 1 × 4 drain showed the machine a quarter idle and the worker waiting on commits, not CPU-bound. Several reads in flight per worker, owned by one task group, are the next lever (the worker runtime's rebuild)."
  echo
  echo "Latency, in ms. The limit column is pgbench's average latency of one single-message send on the same idle server (the commit a send costs); ratio = limit / p50."
  echo
  echo "| workload | p50 | p99 | limit | ratio |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${latency_rows[@]}"
  echo
} > "$out"
write_section Worker "$out"
cat "$out"
rm -f "$out"
