#!/usr/bin/env bash
# The barrier benchmark (run by scripts/bench.sh barrier): fan-out of 100,000 members,
# fan-in completions/s on one barrier, and last completion → callback start.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

schema=(--database-url "$url" --schema bench)
"$muster" migrate "${schema[@]}" >/dev/null
"$muster" queue create bench --visibility-timeout 1h "${schema[@]}" >/dev/null
"$muster" queue create bench-callbacks "${schema[@]}" >/dev/null
fanout_members=100000
fanin_members=100000
batch=10

reset() {
  sql "TRUNCATE bench.messages, bench.message_keys, bench.archive, bench.dead_letters, bench.barrier_members,
       bench.barriers, bench.executions, bench.claims" >/dev/null
}
# Statistics of the filled tables: planned against an empty table's, the fenced ack's join
# can fall back to scanning 100,000 messages per completion (seen here: 50/s instead of 2,000/s).
analyze() { sql "ANALYZE bench.messages, bench.barrier_members, bench.barriers, bench.message_keys" >/dev/null; }

# The same fan_out call Muster makes, with the arrays built on the server.
fanout_script=$(mktemp --suffix=.sql)
cat > "$fanout_script" <<SQL
SELECT f.barrier_id
FROM bench.create_execution('bench') AS e,
LATERAL bench.fan_out(e.id, 'stage', 'bench', 'member',
    ARRAY(SELECT 'm' || g FROM generate_series(1, $fanout_members) AS g),
    ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, $fanout_members) AS g),
    'bench-callbacks', 'aggregate') AS f;
SQL

# Arms a barrier of $1 members (server-side), leases every member; prints the barrier id.
# Statistics ($2): fresh (ANALYZE after the lease, default) or stale (ANALYZE right after
# the fan-out, while every member is ready, and not again: what a deployment sees until
# autovacuum comes by).
prepare_fanin() {
  reset
  local barrier members=$1 statistics=${2:-fresh}
  barrier=$(sql "SELECT f.barrier_id FROM bench.create_execution('bench') AS e,
    LATERAL bench.fan_out(e.id, 'stage', 'bench', 'member',
      ARRAY(SELECT 'm' || g FROM generate_series(1, $members) AS g),
      ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, $members) AS g),
      'bench-callbacks', 'aggregate') AS f")
  [ "$statistics" = fresh ] || analyze
  sql "DO \$\$ BEGIN FOR i IN 1..$((members / 1000)) LOOP
         PERFORM count(*) FROM bench.read('bench', 1000, '1 hour', 'pgbench'); END LOOP; END \$\$;
       DROP SEQUENCE IF EXISTS bench.fanin_seq; CREATE SEQUENCE bench.fanin_seq;" >/dev/null 2>&1
  [ "$statistics" = stale ] || analyze
  echo "$barrier"
}

rows=()
ours=() limit=()
for _ in $(seq 1 "$runs"); do
  reset
  limit+=("$(pgbench -n -t 1 -f "$fanout_script" "$url" 2>&1 | awk '/^latency average/ { printf "%.3f", $4 / 1000; exit }')")
  reset
  ours+=("$("$muster" bench "${schema[@]}" --workload fanout --members "$fanout_members")")
done
m=$(median "${ours[@]}"); l=$(median "${limit[@]}")
fanout_row="| fan-out of 100,000 members (arm + enqueue, one statement) | $m | $l | $(ratio "$l" "$m") |"
echo "fanout: muster ${ours[*]} s / limit ${limit[*]} s" >&2
rm -f "$fanout_script"

# The plain-SQL limit: one counter row, a member row per completion (counter_member.sql).
psql "$url" -qX -v ON_ERROR_STOP=1 -f scripts/bench/limits/limits-schema.sql >/dev/null
reset_limit() { sql "TRUNCATE barrier, barrier_member; INSERT INTO barrier VALUES (1, 1000000000000)" >/dev/null; }

floor=""
for statistics in fresh stale; do
  for completers in 1 4 16; do
    swift=() ours=() limit=()
    for _ in $(seq 1 "$runs"); do
      reset_limit
      limit+=("$(pgbench_rate scripts/bench/limits/counter_member.sql "$completers" 1)")
      barrier=$(prepare_fanin "$fanin_members" "$statistics")
      ours+=("$(pgbench_rate scripts/bench/barrier/fanin.sql "$completers" 1 -D "barrier=$barrier")")
      reset
      flag=$([ "$statistics" = fresh ] && echo --analyze || echo --stale-statistics)
      swift+=("$("$muster" bench "${schema[@]}" --workload fanin --clients "$completers" --members "$fanin_members" --seconds "$seconds" "$flag")")
    done
    s=$(median "${swift[@]}"); m=$(median "${ours[@]}"); l=$(median "${limit[@]}")
    [ -n "$floor" ] || floor=$(awk -v r="$m" 'BEGIN { printf "%.3f", 1000 / r }')
    what=$([ "$statistics" = fresh ] && echo "statistics after the lease" || echo "statistics from before the lease (no ANALYZE since)")
    rows+=("| fan-in on one barrier, $what | $completers | $s | $m | $l | $(ratio "$s" "$m") | $(ratio "$m" "$l") | $(ratio "$s" "$l") |")
    echo "fanin $statistics c=$completers: swift ${swift[*]} / sql ${ours[*]} / limit ${limit[*]}" >&2
  done
done

# The same, $batch members per statement: what workers send (their completions are
# group-committed). The pgbench side runs the same complete_members() per $batch members.
batch_rows=()
for completers in 4 16; do
  ours=() limit=()
  for _ in $(seq 1 "$runs"); do
    barrier=$(prepare_fanin 300000)
    limit+=("$(pgbench_rate scripts/bench/barrier/fanin_batch.sql "$completers" "$batch" -D "barrier=$barrier" -D "batch=$batch")")
    reset
    ours+=("$("$muster" bench "${schema[@]}" --workload fanin --clients "$completers" --members 300000 --batch "$batch" --seconds "$seconds" --analyze)")
  done
  m=$(median "${ours[@]}"); l=$(median "${limit[@]}")
  batch_rows+=("| fan-in on one barrier, $batch per statement | $completers | $m | $l | $(ratio "$m" "$l") |")
  echo "fanin batch=$batch c=$completers: muster ${ours[*]} / limit ${limit[*]}" >&2
done

p50s=() p99s=()
for _ in $(seq 1 "$runs"); do
  reset
  read -r p50 p99 < <("$muster" bench "${schema[@]}" --workload callback --samples 100)
  p50s+=("$p50"); p99s+=("$p99")
done
p50=$(median "${p50s[@]}"); p99=$(median "${p99s[@]}")
echo "callback: p50 ${p50s[*]} p99 ${p99s[*]}" >&2

out=$(mktemp)
{
  echo "## Barrier"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs runs; $(nproc) vCPU)."
  echo
  echo "Server: $(server_settings). Limits are pgbench -M prepared running the same schema functions Muster calls (scripts/bench/barrier.sh, scripts/bench/barrier/fanin.sql) on the same server in the same run."
  echo
  echo "Fan-out, in seconds (lower is better). The limit runs the same fan_out() with its 100,000-element arrays built on the server; Muster builds them in Swift and sends them as parameters. ratio = limit / Muster."
  echo
  echo "| workload | Muster s | limit s | ratio |"
  echo "|---|---|---|---|"
  echo "$fanout_row"
  echo
  echo "Fan-in: completions/s of members of one 100,000-member barrier whose members are already leased. Each completion is one statement and one commit: the fenced ack of the member's message, the member's record and the barrier row's decrement (the hot row). Swift: Barriers.complete; SQL: the same complete_member() through pgbench (scripts/bench/barrier/fanin.sql); limit: the plain-SQL limit, a member row and a counter decrement (scripts/bench/limits/counter_member.sql). Statistics from before the lease are what a deployment has until autovacuum analyzes the table again: every member counted as ready."
  echo
  echo "| workload | completers | Swift completions/s | SQL completions/s | limit completions/s | Swift / SQL | SQL / limit | Swift / limit |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Workers do not send one statement per member: completions that finish while one is in flight go out together (group commit), as one complete_members() call: one fenced ack of all their messages, their records, and one decrement per barrier. The same fan-in, $batch members per statement (the limit runs the same function per $batch members):"
  echo
  echo "| workload | completers | Muster completions/s | limit completions/s | ratio |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${batch_rows[@]}"
  echo
  echo "Hot row: every completion decrements the one barrier row, so single completions serialise on its row lock and each waits for the previous commit; the single-row limit itself falls from 4 to 16 completers, and Muster follows it (above it at 16, where its pool queues completers instead of piling them on the lock). Group commit takes the barrier row lock once per batch instead of once per member: 10 per statement lifts one barrier to 15-23k completions/s, beyond the 5.5-7.6k/s PLATFORM.md measured for sharded sub-counters, which were therefore not built. Muster is above the batched limit because it sends the leases it holds, while the pgbench script first looks each member up by key."
  echo
  echo "Last completion → callback handler start, in ms, 100 one-member barriers one after another with a member worker and a callback worker (LISTEN/NOTIFY) in one process. The limit is one completion's commit as pgbench measured Muster's complete_member() at 1 completer (the callback exists only after it); ratio = limit / p50."
  echo
  echo "| workload | p50 | p99 | limit | ratio |"
  echo "|---|---|---|---|---|"
  echo "| last completion → callback start | $p50 | $p99 | $floor | $(ratio "$floor" "$p50") |"
  echo
} > "$out"
write_section Barrier "$out"
cat "$out"
rm -f "$out"
