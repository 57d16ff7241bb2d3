#!/usr/bin/env bash
# The soak benchmark (issue 19; run by scripts/bench.sh soak [--minutes 12] [--rate R]): hours of
# churn in minutes. Producers send at a steady rate while a worker drains with a no-op handler;
# from a third of the run to two thirds a separate session holds a REPEATABLE READ snapshot
# (idle in transaction after reading one row of a table that is not Muster's, as a report or
# pg_dump would). Every 10 s: jobs/s, pickup latency p50/p99, the oldest xmin age, entries read
# per scan of the ready index, HOT updates, sizes and dead tuples (muster bench --workload
# soak prints the lines). Runs at two rates: 70 % of the rate sustained beside the producer,
# measured first (or --rate), and a low one (100/s); and the plain-SQL limit beside the first:
# pgbench enqueuing in batches
# and leasing with scripts/bench/limits/*.sql on one plain table at the same rate, under the
# same held snapshot, sampled the same way (no pickup latency: pgbench cannot see it).
# Writes docs/benchmarks/soak-*.csv (one line per sample) and the ## Soak section.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

minutes=${BENCH_MINUTES:-12}
total_seconds=$((minutes * 60))
third=$((total_seconds / 3))
concurrency=8
low_rate=100
csv_dir=docs/benchmarks
mkdir -p "$csv_dir"
work=$(mktemp -d)
holder=""
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "soak: $*" >&2; exit 1; }

"$muster" migrate --database-url "$url" --schema soak >/dev/null
"$muster" queue create soak --database-url "$url" --schema soak >/dev/null 2>&1 || true
sql "CREATE TABLE IF NOT EXISTS public.soak_report (x int); INSERT INTO public.soak_report SELECT 1 WHERE NOT EXISTS (SELECT FROM public.soak_report)"

reset_muster() {
  sql "TRUNCATE soak.messages, soak.message_keys, soak.archive, soak.dead_letters" >/dev/null
  sql "VACUUM ANALYZE soak.messages" >/dev/null
  sql "VACUUM ANALYZE soak.message_keys" >/dev/null
}

# ---- The drain rate: 20,000 no-op messages, one worker process at the soak's concurrency.
drain_total=20000
reset_muster
sql "SELECT count(*) FROM soak.send_batch('soak', array_fill('{}'::jsonb, ARRAY[$drain_total]),
     ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, $drain_total)), NULL,
     array_fill('noop'::text, ARRAY[$drain_total]), notify => false)" >/dev/null
sql "VACUUM ANALYZE soak.messages" >/dev/null
drain_rate=$("$muster" bench --database-url "$url" --schema soak --queue soak --workload drain --concurrency "$concurrency")
[ "$(sql "SELECT count(*) FROM soak.messages")" -eq 0 ] || fail "the drain left messages"
# The sustained rate: a prefilled drain has the database to itself, a soak shares it with the
# producer's inserts (and offered more than it can take, the producer crowds the worker out).
# Offer half the drain rate for 20 s without a snapshot, then 1.25 times more while the worker
# handles at least 95 % of what is offered: the last rate it kept up with is the sustained one.
offer() {
  reset_muster
  "$muster" bench --database-url "$url" --schema soak --queue soak --workload soak --rate "$1" \
    --seconds 20 --sample-seconds 20 --concurrency "$concurrency" --without-snapshot | awk -F, 'NR == 2 { print $3 }'
}
sustained=${BENCH_RATE:+$((BENCH_RATE * 10 / 7))}
offered=$(awk -v d="$drain_rate" 'BEGIN { printf "%d", d / 2 }')
while [ -z "${BENCH_RATE:-}" ]; do
  handled=$(offer "$offered")
  [ -n "$handled" ] || fail "the calibration run printed no sample"
  echo "soak: offered $offered/s, handled $handled/s" >&2
  awk -v h="$handled" -v o="$offered" 'BEGIN { exit !(h >= 0.95 * o) }' || break
  sustained=$offered
  offered=$(awk -v o="$offered" 'BEGIN { printf "%d", o * 1.25 }')
done
calibration="the highest rate the worker kept up with beside the producer (20 s runs without a snapshot from half the drain rate up by 1.25×, while at least 95 % of the offered rate is handled)"
if [ "${sustained:-0}" -eq 0 ]; then
  sustained=$(awk -v h="$handled" 'BEGIN { printf "%d", h }')
  calibration="what the worker handled beside the producer when offered half the drain rate for 20 s without a snapshot ($offered/s offered: it fell behind already)"
fi
[ -z "${BENCH_RATE:-}" ] || calibration="given with --rate"
high_rate=${BENCH_RATE:-$(awk -v d="$sustained" 'BEGIN { printf "%d", d * 0.7 }')}
echo "soak: drain rate $drain_rate jobs/s, sustained beside a producer $sustained jobs/s; soaking at $high_rate/s and $low_rate/s for $minutes minutes each" >&2

# muster_soak RATE CSV: the Muster soak at RATE, its samples into CSV.
muster_soak() {
  reset_muster
  "$muster" bench --database-url "$url" --schema soak --queue soak --workload soak --rate "$1" \
    --seconds "$total_seconds" --concurrency "$concurrency" > "$2"
  [ "$(wc -l < "$2")" -gt 3 ] || fail "the soak at $1/s printed no samples"
}

# plain_soak RATE CSV: pgbench enqueues RATE rows/s (batches of 10) and leases + deletes 10 at a
# time on the same schedule; a psql session holds the snapshot through the middle third; the
# shell samples every 10 s.
plain_soak() {
  local rate=$1 csv=$2 producer consumer t=0 prev_del prev_scan prev_read prev_upd prev_hot line
  psql "$url" -qX -v ON_ERROR_STOP=1 -f scripts/bench/limits/limits-schema.sql >/dev/null 2>&1
  # A backlog of 30 s keeps the lease script from finding the table empty (its ack of an empty
  # lease is not valid SQL); producer and consumer then run on the same schedule.
  sql "INSERT INTO q (queue, payload) SELECT 'default', jsonb_build_object('task', 'noop', 'n', g) FROM generate_series(1, $((rate * 30))) AS g" >/dev/null
  sql "VACUUM ANALYZE q" >/dev/null
  pgbench -n -M prepared -c 1 -j 1 -T "$total_seconds" -R "$(awk -v r="$rate" 'BEGIN { print r / 10 }')" -D batch=10 \
    -f scripts/bench/limits/enqueue_batch.sql "$url" > "$work/producer.log" 2>&1 &
  producer=$!
  pgbench -n -M prepared -c 2 -j 2 -T "$total_seconds" -R "$(awk -v r="$rate" 'BEGIN { print r / 10 }')" -D batch=10 \
    -f scripts/bench/limits/lease.sql "$url" > "$work/consumer.log" 2>&1 &
  consumer=$!
  stats() {
    sql "SELECT (SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL),
                n_tup_del, n_tup_upd, n_tup_hot_upd, n_dead_tup,
                (SELECT idx_scan FROM pg_stat_user_indexes WHERE relname = 'q' AND indexrelname = 'q_pkey'),
                (SELECT idx_tup_read FROM pg_stat_user_indexes WHERE relname = 'q' AND indexrelname = 'q_pkey'),
                pg_relation_size('q'), pg_relation_size('q_pkey')
         FROM pg_stat_user_tables WHERE relname = 'q'" | tr '|' ' '
  }
  read -r _ prev_del prev_upd prev_hot _ prev_scan prev_read _ _ <<<"$(stats)"
  echo "seconds,phase,jobs_per_s,xmin_age,q_pkey_entries_per_scan,hot_update_pct,q_bytes,q_pkey_bytes,q_dead" > "$csv"
  while [ "$t" -lt "$total_seconds" ]; do
    [ "$t" -ne "$third" ] || hold
    [ "$t" -ne $((2 * third)) ] || release
    sleep 10
    t=$((t + 10))
    read -r xmin del upd hot dead scan read_ q_bytes pkey_bytes <<<"$(stats)"
    phase=before; [ "$t" -le "$third" ] || phase=held; [ "$t" -le $((2 * third)) ] || phase=after
    line=$(awk -v t="$t" -v p="$phase" -v x="$xmin" -v d="$((del - prev_del))" -v u="$((upd - prev_upd))" -v h="$((hot - prev_hot))" \
      -v s="$((scan - prev_scan))" -v r="$((read_ - prev_read))" -v qb="$q_bytes" -v pb="$pkey_bytes" -v dd="$dead" \
      'BEGIN { printf "%d,%s,%.1f,%d,%.1f,%.1f,%d,%d,%d", t, p, d / 10, x, (s > 0) ? r / s : 0, (u > 0) ? 100 * h / u : 0, qb, pb, dd }')
    echo "$line" >> "$csv"
    prev_del=$del prev_upd=$upd prev_hot=$hot prev_scan=$scan prev_read=$read_
  done
  wait "$producer" || { tail -n 5 "$work/producer.log" >&2; fail "the plain producer failed"; }
  wait "$consumer" || { tail -n 5 "$work/consumer.log" >&2; fail "the plain consumer failed"; }
  release
}

# The plain soak's snapshot holder: a psql reading commands from a pipe.
hold() {
  [ -z "$holder" ] || return 0
  mkfifo "$work/holder"
  psql "$url" -qX < "$work/holder" > /dev/null 2>&1 &
  holder=$!
  exec 9> "$work/holder"
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM public.soak_report LIMIT 1;" >&9
}
release() {
  [ -n "$holder" ] || return 0
  echo "COMMIT;" >&9
  exec 9>&-
  wait "$holder" 2>/dev/null || true
  holder=""
  rm -f "$work/holder"
}

# summary CSV RATE LABEL [plain]: one table row per phase from the samples (means of the
# interval figures; p99: the highest interval p99; sizes: the phase's last sample).
summary() {
  awk -F, -v label="$2" -v plain="${3:-}" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
      p = $(col["phase"]); n[p]++; jobs[p] += $(col["jobs_per_s"])
      if (!plain) { p50[p] += $(col["pickup_p50_ms"]); if ($(col["pickup_p99_ms"]) > p99[p]) p99[p] = $(col["pickup_p99_ms"]) }
      e = plain ? $(col["q_pkey_entries_per_scan"]) : $(col["ready_entries_per_scan"])
      entries[p] += e; if (e > emax[p]) emax[p] = e
      if (!plain) { d = $(col["pending_entries_per_scan"]); due[p] += d; if (d > dmax[p]) dmax[p] = d }
      hot[p] += $(col["hot_update_pct"])
      if ($(col["xmin_age"]) > xmin[p]) xmin[p] = $(col["xmin_age"])
      size[p] = plain ? $(col["q_bytes"]) + $(col["q_pkey_bytes"]) : $(col["messages_bytes"]) + $(col["messages_pkey_bytes"]) + $(col["messages_ready_bytes"]) + $(col["messages_pending_bytes"])
      idx[p] = plain ? $(col["q_pkey_bytes"]) : $(col["messages_ready_bytes"])
    }
    END {
      split("before held after", phases, " ")
      for (k = 1; k <= 3; k++) {
        p = phases[k]; if (!n[p]) continue
        printf "| %s | %s | %.1f | %s | %s | %.1f (max %.0f) | %s | %.0f | %d | %.1f | %.1f |\n", label, p, jobs[p] / n[p],
          plain ? "–" : sprintf("%.1f", p50[p] / n[p]), plain ? "–" : sprintf("%.1f", p99[p]),
          entries[p] / n[p], emax[p], plain ? "–" : sprintf("%.1f (max %.0f)", due[p] / n[p], dmax[p]),
          hot[p] / n[p], xmin[p], size[p] / 1048576, idx[p] / 1048576
      }
    }' "$1"
}

# targets CSV: the issue's targets for the Muster soak at 70 % of the drain rate.
targets() {
  awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) { col[$i] = i; if ($i ~ /_bytes$/) bytes[i] = $i }; next }
    {
      p = $(col["phase"]); n[p]++; jobs[p] += $(col["jobs_per_s"]); p50[p] += $(col["pickup_p50_ms"]); p99s[p] += $(col["pickup_p99_ms"])
      if (p == "held") { held_e[n[p]] = $(col["ready_entries_per_scan"]) }
      for (i in bytes) last[p, bytes[i]] = $i
    }
    END {
      tput = (jobs["held"] / n["held"]) / (jobs["before"] / n["before"])
      r50 = (p50["held"] / n["held"]) / (p50["before"] / n["before"]); r99 = (p99s["held"] / n["held"]) / (p99s["before"] / n["before"])
      half = int(n["held"] / 2); first = 0; second = 0
      for (i = 1; i <= n["held"]; i++) { if (i <= half) first += held_e[i]; else second += held_e[i] }
      growth = (half > 0 && first > 0) ? (second / (n["held"] - half)) / (first / half) : 0
      printf "- Throughput while the snapshot is held: %.2f of before (target ≥ 0.90): %s.\n", tput, (tput >= 0.9) ? "met" : "not met"
      printf "- Pickup while held, mean of the 10 s intervals: p50 %.2f×, p99 %.2f× before (target ≤ 2×): %s.\n", r50, r99, (r50 <= 2 && r99 <= 2) ? "met" : "not met"
      printf "- Entries read per ready-index scan, second half of the hold against the first: %.2f× (bounded: ≈ 1; growing with the snapshot'"'"'s age: > 1.5): %s.\n", growth, (growth <= 1.5) ? "met" : "not met"
      worst = 0; worst_name = ""
      for (i in bytes) { name = bytes[i]; b = last["before", name]; a = last["after", name]; if (b > 0 && a / b > worst) { worst = a / b; worst_name = name } }
      printf "- Sizes at the end (%s s after the release) against before the snapshot: worst %s at %.2f× (target ≤ 2×): %s.\n", '"$third"', worst_name, worst, (worst <= 2) ? "met" : "not met"
    }' "$1"
}

high_csv=$csv_dir/soak-muster-high.csv low_csv=$csv_dir/soak-muster-low.csv plain_csv=$csv_dir/soak-plain-high.csv
muster_soak "$high_rate" "$high_csv"
plain_soak "$high_rate" "$plain_csv"
muster_soak "$low_rate" "$low_csv"

out=$(mktemp)
{
  echo "## Soak"
  echo
  echo "Command: \`$BENCH_COMMAND\` ($(nproc) vCPU; each run $minutes minutes, samples every 10 s; the snapshot held from minute $((third / 60)) to minute $((2 * third / 60)))."
  echo
  echo "Server: $(server_settings). Muster: one \`muster bench --workload soak\` process, batches of sends every 100 ms and a no-op Worker (concurrency $concurrency, defaults otherwise). Measured first: the drain of 20,000 prefilled messages, $drain_rate jobs/s; $calibration, $sustained jobs/s; the high rate is 70 % of the latter. Plain-SQL limit: pgbench on one plain table (scripts/bench/limits/enqueue_batch.sql at the same rate, lease.sql with 10 per lease) under the same held snapshot. Series: $high_csv, $low_csv, $plain_csv (one line per 10 s)."
  echo
  echo "Per phase: jobs/s and the pickup p50 are means of the 10 s intervals, p99 the worst interval; entries read per scan of the ready index (\`messages_ready\`, two scans per read, the one for more urgent priorities empty here; \`q_pkey\` for the plain table) and of the due index (\`messages_pending\`), mean and max of the intervals; HOT: share of updates that were HOT; size: the queue table and its indexes at the phase's last sample. A \`Reaper\` runs in the Muster process, as in every worker process."
  echo
  echo "| run | phase | jobs/s | pickup p50 ms | pickup p99 ms | entries per scan | due entries per scan | HOT % | oldest xmin age | table + indexes MiB | ready index MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  summary "$high_csv" "Muster at $high_rate/s (70 % of sustained)"
  summary "$plain_csv" "plain SQL at $high_rate/s" plain
  summary "$low_csv" "Muster at $low_rate/s"
  echo
  echo "Targets (Muster at $high_rate/s):"
  echo
  targets "$high_csv"
  echo
  echo "Targets (Muster at $low_rate/s):"
  echo
  targets "$low_csv"
  echo
} > "$out"
write_section Soak "$out"
cat "$out"
rm -f "$out"
