#!/usr/bin/env bash
# The statement-mode benchmark (run by scripts/bench.sh statements): the worker's drain with
# named prepared statements and with unnamed ones, on a direct connection and through
# PgBouncer in transaction mode (scripts/with-pgbouncer.sh, started here).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

if [ -z "${MUSTER_TEST_PGBOUNCER_URL:-}" ]; then
  MUSTER_TEST_DATABASE_URL=$url exec scripts/with-pgbouncer.sh "$0" "$@"
fi
pooled=$MUSTER_TEST_PGBOUNCER_URL

"$muster" migrate --database-url "$url" --schema bench >/dev/null
"$muster" queue create bench --visibility-timeout 5m --database-url "$url" --schema bench >/dev/null 2>&1 || true
total=20000
limit_total=400000

prefill() {
  sql "TRUNCATE bench.messages, bench.message_keys, bench.archive, bench.dead_letters" >/dev/null
  sql "SELECT count(*) FROM bench.send_batch('bench', array_fill('{}'::jsonb, ARRAY[$total]),
       ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $total)), NULL,
       array_fill('noop'::text, ARRAY[$total]), notify => false)" >/dev/null
  sql "VACUUM ANALYZE bench.messages" >/dev/null
}
psql "$url" -qX -v ON_ERROR_STOP=1 -f scripts/bench/limits/limits-schema.sql >/dev/null
plain_prefill() {
  sql "TRUNCATE q" >/dev/null
  sql "INSERT INTO q (queue, payload) SELECT 'default', '{}' FROM generate_series(1, $limit_total)" >/dev/null
  sql "VACUUM ANALYZE q" >/dev/null
}

# drain PROCESSES CONCURRENCY URL MODE [--listen-url URL] -> jobs/s of PROCESSES worker
# processes draining $total no-op messages with WorkerOptions(concurrency:) defaults.
drain() {
  local procs=$1 conc=$2 target=$3 mode=$4 pids=() p start end
  prefill
  start=$(date +%s.%N)
  for p in $(seq 1 "$procs"); do
    "$muster" bench --database-url "$target" --schema bench --statements "$mode" "${@:5}" \
      --workload drain --concurrency "$conc" >/dev/null 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  end=$(date +%s.%N)
  [ "$(sql "SELECT count(*) FROM bench.messages")" -eq 0 ] || { echo "bench: the $mode drain left messages" >&2; exit 1; }
  awk -v s="$start" -v e="$end" -v n="$total" 'BEGIN { printf "%.1f", n / (e - s) }'
}

rows=()
for config in "1 4" "4 4"; do
  read -r procs conc <<<"$config"
  clients=$((procs * conc))
  direct_prepared=() direct_unnamed=() pooled_unnamed=() limit=()
  for _ in $(seq 1 "$runs"); do
    plain_prefill
    limit+=("$(pgbench_rate scripts/bench/limits/lease.sql "$clients" 10 -D batch=10)")
    require_rows "the plain limit's lease" "SELECT count(*) FROM q"
    direct_prepared+=("$(drain "$procs" "$conc" "$url" prepared)")
    direct_unnamed+=("$(drain "$procs" "$conc" "$url" unnamed)")
    pooled_unnamed+=("$(drain "$procs" "$conc" "$pooled" unnamed --listen-url "$url")")
  done
  l=$(median "${limit[@]}"); a=$(median "${direct_prepared[@]}"); b=$(median "${direct_unnamed[@]}"); c=$(median "${pooled_unnamed[@]}")
  rows+=("| drain 20,000, no-op handler | $procs × $conc | $a | $b | $c | $l | $(ratio "$b" "$a") | $(ratio "$a" "$l") | $(ratio "$b" "$l") | $(ratio "$c" "$l") |")
  echo "statements $procs x $conc: direct prepared ${direct_prepared[*]} / direct unnamed ${direct_unnamed[*]} / pgbouncer unnamed ${pooled_unnamed[*]} / limit ${limit[*]}" >&2
done

out=$(mktemp)
{
  echo "## Statement modes"
  echo
  echo "Command: \`$BENCH_COMMAND\` (median of $runs interleaved runs; $(nproc) vCPU)."
  echo
  echo "Server: $(server_settings). $("$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" --version | head -n 1) in transaction mode (scripts/with-pgbouncer.sh: default_pool_size 100, no prepared-statement support) on the same machine. Worker processes with \`WorkerOptions(concurrency: C)\` defaults drain 20,000 no-op messages; \`--statements prepared\` (named, prepared once per connection) or \`unnamed\` (\`PQexecParams\`, parsed and planned on each call). Through PgBouncer the workers LISTEN on a direct connection (\`--listen-url\`). Limit: the plain-SQL limit on the direct connection, lease 10 + delete on one plain table (scripts/bench/limits/lease.sql, pgbench -M prepared), checked to end with rows left."
  echo
  echo "| workload | processes × concurrency | direct, prepared jobs/s | direct, unnamed jobs/s | PgBouncer, unnamed jobs/s | limit jobs/s | unnamed / prepared | ratio prepared | ratio unnamed | ratio PgBouncer |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
} > "$out"
write_section "Statement modes" "$out"
cat "$out"
rm -f "$out"
