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

commits() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }

# drain_run PROCESSES CONCURRENCY N [--tuned] -> "jobs/s commits-per-10-jobs": N prefilled
# messages drained by PROCESSES worker processes at once (each until the queue is empty). The
# commits are the database's (pg_stat_database, flushed when the workers' sessions end), so
# they count reads, acks, heartbeats and the end-of-queue checks alike.
drain_run() {
  local procs=$1 conc=$2 n=$3 tuned=${4:-} before start pids=() p
  prefill "$n"
  before=$(commits)
  start=$(date +%s.%N)
  for p in $(seq 1 "$procs"); do
    "$muster" bench "${schema[@]}" --workload drain --concurrency "$conc" $tuned >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local end; end=$(date +%s.%N)
  sleep 0.5
  awk -v s="$start" -v e="$end" -v n="$n" -v b="$before" -v a="$(commits)" 'BEGIN { printf "%.1f %.2f", n / (e - s), (a - b) * 10 / n }'
}

rows=()
for config in "1 1" "1 4" "1 16" "4 4"; do
  read -r procs conc <<<"$config"
  clients=$((procs * conc))
  defaults=() tuned=() per10=() limit=() plain=()
  for _ in $(seq 1 "$runs"); do
    plain_prefill
    plain+=("$(pgbench_rate scripts/bench/limits/lease.sql "$clients" 10 -D batch=10)")
    require_rows "the plain limit's lease" "SELECT count(*) FROM q"
    prefill "$limit_total"
    limit+=("$(pgbench_rate "$script" "$clients" 10)")
    ready_left
    read -r rate per <<<"$(drain_run "$procs" "$conc" "$total")"
    defaults+=("$rate"); per10+=("$per")
    read -r rate _ <<<"$(drain_run "$procs" "$conc" "$total" --tuned)"
    tuned+=("$rate")
  done
  d=$(median "${defaults[@]}"); t=$(median "${tuned[@]}"); c=$(median "${per10[@]}"); l=$(median "${limit[@]}"); p=$(median "${plain[@]}")
  rows+=("| drain 20,000, no-op handler | $procs × $conc | $d | $t | $c | $l | $p | $(ratio "$d" "$t") | $(ratio "$t" "$l") | $(ratio "$d" "$l") | $(ratio "$d" "$p") |")
  echo "drain $procs x $conc: defaults ${defaults[*]} (commits/10 ${per10[*]}) / tuned ${tuned[*]} / sql ${limit[*]} / limit ${plain[*]}" >&2
done

# The same with ten times the messages, defaults at 1 × 4, beside the 1 × 4 limits above.
big=()
for _ in $(seq 1 "$runs"); do big+=("$(drain_run 1 4 200000 | awk '{ print $1 }')"); done
read -r l p <<<"$(awk -F'|' '$3 ~ /1 × 4/ { print $7, $8 }' <<<"$(printf '%s\n' "${rows[@]}")")"
d=$(median "${big[@]}")
big_row="| drain 200,000, no-op handler, defaults | 1 × 4 | $d | $l | $p | $(ratio "$d" "$l") | $(ratio "$d" "$p") |"
echo "drain 200,000 1 x 4: ${big[*]}" >&2

# Pickup latency, each beside the floor measured in the same run (scripts/bench/limits' plain
# table, INSERT + pg_notify per commit, LISTEN + UPDATE … SKIP LOCKED LIMIT 1, in Swift).
latency_rows=()
f50s=() f99s=() l50s=() l99s=() p50s=() p99s=()
for _ in $(seq 1 "$runs"); do
  read -r a b < <("$muster" bench "${schema[@]}" --workload latency-floor --rate 50 --seconds "$seconds"); f50s+=("$a"); f99s+=("$b")
  reset
  read -r a b < <("$muster" bench "${schema[@]}" --workload latency --rate 50 --seconds "$seconds" --listen true); l50s+=("$a"); l99s+=("$b")
  reset
  read -r a b < <("$muster" bench "${schema[@]}" --workload latency --rate 50 --seconds "$seconds" --listen false --poll-interval 100ms); p50s+=("$a"); p99s+=("$b")
done
f50=$(median "${f50s[@]}"); f99=$(median "${f99s[@]}")
latency_row() { latency_rows+=("| $1 | $2 | $3 | $f50 | $f99 | $(ratio "$f50" "$2") | $(ratio "$f99" "$3") |"); }
latency_row "enqueue → handler start, 50 sends/s, LISTEN/NOTIFY" "$(median "${l50s[@]}")" "$(median "${l99s[@]}")"
latency_row "enqueue → handler start, 50 sends/s, polling every 100 ms" "$(median "${p50s[@]}")" "$(median "${p99s[@]}")"
echo "latency floor: p50 ${f50s[*]} p99 ${f99s[*]}; listen: p50 ${l50s[*]} p99 ${l99s[*]}; poll: p50 ${p50s[*]} p99 ${p99s[*]}" >&2

out=$(mktemp)
{
  echo "## Worker"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs interleaved runs; $(nproc) vCPU)."
  echo
  echo "Server: $(server_settings). Defaults: \`WorkerOptions(concurrency: C)\` (batch 10, prefetch 20, poll 1 s). Tuned: batch 10, prefetch 10 − C (at least 0), poll 50 ms, the options this benchmark used before the defaults were fast. Each drain ends when the queue is empty (\`Worker.run(until: .queueEmpty)\`), final acks included. Commits / 10 jobs: the database's commits (pg_stat_database) per 10 jobs of the defaults' drain, reads, acks, heartbeats and end checks alike (the SQL limit pays 2). SQL: pgbench -M prepared with as many clients as the worker has handlers, running what a worker issues: a read of 10, then one batched fenced ack (scripts/bench/queue/read10ack.sql): the worker's own limit. Limit: the plain-SQL limit, lease 10 + delete on one plain table (scripts/bench/limits/lease.sql). Both pgbench runs are checked to end with rows left."
  echo
  echo "| workload | processes × concurrency | defaults jobs/s | tuned jobs/s | commits / 10 jobs | SQL jobs/s | limit jobs/s | defaults / tuned | tuned / SQL | defaults / SQL | defaults / limit |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "| workload | processes × concurrency | jobs/s | SQL jobs/s | limit jobs/s | ratio SQL | ratio limit |"
  echo "|---|---|---|---|---|---|---|"
  echo "$big_row"
  echo
  echo "Latency, in ms. The floor: the same pickup in plain SQL from Swift on the same server in the same run (one commit of INSERT + pg_notify; LISTEN, then UPDATE … SKIP LOCKED LIMIT 1 on each notification; monotonic clock), \`muster bench --workload latency-floor\`. ratio = floor / Muster."
  echo
  echo "| workload | p50 | p99 | floor p50 | floor p99 | ratio p50 | ratio p99 |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${latency_rows[@]}"
  echo
} > "$out"
write_section Worker "$out"
cat "$out"
rm -f "$out"
