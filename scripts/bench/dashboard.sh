#!/usr/bin/env bash
# The dashboard benchmark (run by scripts/bench.sh dashboard; not part of `all`): how long each
# dashboard page and a /metrics scrape take over a large history. Target: p95 ≤ 200 ms each.
#   Fill     plain SQL (scripts/bench/dashboard/*.sql) into the bench schema: 10,000,000 archived
#            messages over 7 days, 1,000,000 waiting (80 % ready, 10 % delayed, 10 % leased),
#            20,000 dead letters, 100,000 executions (1,000 running, 200 pending) with their
#            barriers, 50 workers. A second run on the same --database-url finds them there
#            and skips the fill (the other suites truncate some of these tables: then it refills).
#   Serve    `muster dashboard` and `muster metrics` on the schema, on free local ports.
#   Time     curl, one new connection per request: 3 warm-up requests, then 50 per page at the
#            default --runs 3 (scaled with --runs), the pages round-robin. p50 and p95 of
#            curl's time_total, and the p50 of the SQL time each dashboard response reports in
#            its Server-Timing header (db;dur=MS).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

schema=(--database-url "$url" --schema bench)
archive_rows=10000000
requests=$(( (50 * runs + 2) / 3 ))
work=$(mktemp -d)
servers=()
cleanup() {
  local pid
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "dashboard: $*" >&2; exit 1; }
# commas N: 10000000 -> 10,000,000
commas() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }
# run_sql FILE [PSQL OPTIONS...]: one of the fill scripts, output discarded.
run_sql() { psql "$url" -qX -v ON_ERROR_STOP=1 "${@:2}" -f "$1" >/dev/null; }
# The live workers (1-25 of live.sql) beat: stamped before each round of requests, so they
# stay alive (a beat within the last minute) however long the run takes.
beat() { sql "UPDATE bench.workers SET last_heartbeat_at = now() - (pid % 10) * interval '1 second' WHERE pid BETWEEN 4001 AND 4025" >/dev/null; }

"$muster" migrate "${schema[@]}" >/dev/null
for queue in bench-a bench-b bench-c bench-d; do
  "$muster" queue create "$queue" "${schema[@]}" >/dev/null
done

# ---- Fill: the archive (in $(nproc) sessions) and the live rows (one transaction) at once,
# each only when its rows are not there as live.sql and archive.sql leave them.
archive_there=$(sql "SELECT count(*) = $archive_rows FROM bench.archive")
live_there=$(sql "
  SELECT (SELECT count(*) FILTER (WHERE state = 'ready') = 800000
                 AND count(*) FILTER (WHERE state = 'delayed') = 100000
                 AND count(*) FILTER (WHERE state = 'leased') = 100000
                 AND coalesce(min(visible_at) FILTER (WHERE state <> 'ready') > now() + interval '1 hour', false)
          FROM bench.messages)
     AND (SELECT count(*) FROM bench.message_keys) = 1000000
     AND (SELECT count(*) FROM bench.dead_letters) = 20000
     AND (SELECT count(*) FROM bench.executions) = 100000
     AND (SELECT count(*) FROM bench.barriers WHERE status = 'armed') = 1000
     AND (SELECT count(*) FROM bench.workers) = 50")
start=$(date +%s.%N)
fills=()
if [ "$archive_there" != t ]; then
  sql "TRUNCATE bench.archive" >/dev/null
  t0=$(sql "SELECT now()")
  sessions=$(nproc)
  for s in $(seq 0 $((sessions - 1))); do
    run_sql scripts/bench/dashboard/archive.sql -v total="$archive_rows" -v t0="$t0" \
      -v lo=$((archive_rows * s / sessions + 1)) -v hi=$((archive_rows * (s + 1) / sessions)) &
    fills+=($!)
  done
fi
if [ "$live_there" != t ]; then
  sql "TRUNCATE bench.messages, bench.message_keys, bench.dead_letters, bench.barrier_members, bench.barriers,
       bench.executions, bench.claims, bench.workers RESTART IDENTITY" >/dev/null
  run_sql scripts/bench/dashboard/live.sql --single-transaction &
  fills+=($!)
fi
fill_failed=0
for pid in "${fills[@]}"; do wait "$pid" || fill_failed=1; done
[ "$fill_failed" -eq 0 ] || fail "a fill session failed (its error is above)"
if [ "${#fills[@]}" -gt 0 ]; then
  filled=$(date +%s.%N)
  sql "VACUUM ANALYZE bench.archive, bench.messages, bench.message_keys, bench.dead_letters, bench.executions,
       bench.barriers, bench.barrier_members, bench.workers" >/dev/null
  awk -v s="$start" -v f="$filled" -v e="$(date +%s.%N)" -v a="$archive_there" -v l="$live_there" 'BEGIN {
    printf "dashboard: filled %s in %.0f s, VACUUM ANALYZE %.0f s\n",
      (a != "t" && l != "t") ? "the archive and the live rows" : (a != "t") ? "the archive" : "the live rows", f - s, e - f }' >&2
else
  echo "dashboard: the rows are there from an earlier run: fill skipped" >&2
fi

# ---- The rows present, each checked against what the fill writes.
beat
IFS='|' read -r archived ready delayed leased dead keys executions running pending completed failed canceled \
  barriers armed members_pending workers alive <<<"$(sql "
  SELECT (SELECT count(*) FROM bench.archive),
         m.ready, m.delayed, m.leased,
         (SELECT count(*) FROM bench.dead_letters),
         (SELECT count(*) FROM bench.message_keys),
         e.total, e.running, e.pending, e.completed, e.failed, e.canceled,
         (SELECT count(*) FROM bench.barriers),
         (SELECT count(*) FROM bench.barriers WHERE status = 'armed'),
         (SELECT count(*) FROM bench.barrier_members WHERE status = 'pending'),
         (SELECT count(*) FROM bench.workers),
         (SELECT count(*) FROM bench.workers AS w WHERE bench.worker_is_alive(w))
  FROM (SELECT count(*) FILTER (WHERE state = 'ready') AS ready, count(*) FILTER (WHERE state = 'delayed') AS delayed,
               count(*) FILTER (WHERE state = 'leased') AS leased FROM bench.messages) AS m,
       (SELECT count(*) AS total, count(*) FILTER (WHERE status = 'running') AS running,
               count(*) FILTER (WHERE status = 'pending') AS pending, count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'failed') AS failed, count(*) FILTER (WHERE status = 'canceled') AS canceled
        FROM bench.executions) AS e")"
# at_least WHAT COUNT WANTED: fails loudly when the fill left fewer rows than it writes.
at_least() { [ "$2" -ge "$3" ] || fail "$1: $2 rows, the fill writes $3: the figures would measure a smaller history"; }
at_least "bench.archive" "$archived" "$archive_rows"
at_least "ready messages" "$ready" 800000
at_least "delayed messages" "$delayed" 100000
at_least "leased messages" "$leased" 100000
at_least "bench.message_keys" "$keys" 1000000
at_least "bench.dead_letters" "$dead" 20000
at_least "bench.executions" "$executions" 100000
at_least "running executions" "$running" 1000
at_least "pending executions" "$pending" 200
at_least "armed barriers" "$armed" 1000
at_least "pending barrier members" "$members_pending" 1
at_least "bench.workers" "$workers" 50
at_least "alive workers" "$alive" 25

# The execution page shows the running execution with the most messages waiting: execution 1
# of live.sql, whose armed barrier has 1,000 members, 600 of them pending.
IFS='|' read -r execution execution_messages execution_members <<<"$(sql "
  SELECT e.id, w.n, (SELECT max(b.expected) FROM bench.barriers AS b WHERE b.execution_id = e.id AND b.status = 'armed')
  FROM bench.executions AS e,
       LATERAL (SELECT count(*) AS n FROM bench.messages AS m WHERE m.execution_id = e.id) AS w
  WHERE e.status = 'running'
  ORDER BY w.n DESC, e.id
  LIMIT 1")"
[ -n "$execution" ] || fail "no running execution to show"

# ---- Serve.
dashboard_port=$(scripts/free-port.sh)
metrics_port=$(scripts/free-port.sh)
while [ "$metrics_port" = "$dashboard_port" ]; do metrics_port=$(scripts/free-port.sh); done
"$muster" dashboard --listen "127.0.0.1:$dashboard_port" "${schema[@]}" >"$work/dashboard.log" 2>&1 &
servers+=($!)
"$muster" metrics --listen "127.0.0.1:$metrics_port" "${schema[@]}" >"$work/metrics.log" 2>&1 &
servers+=($!)

# await NAME URL PID: until URL answers 200; fails loudly after 30 s or when the server exits.
await() {
  local code
  for _ in $(seq 1 60); do
    kill -0 "$3" 2>/dev/null || { tail -n 20 "$work/$1.log" >&2; fail "muster $1 exited before answering $2"; }
    code=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$2" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.5
  done
  tail -n 20 "$work/$1.log" >&2
  fail "muster $1 did not answer $2 with 200 within 30 s (last: $code)"
}
dashboard="http://127.0.0.1:$dashboard_port"
await dashboard "$dashboard/" "${servers[0]}"
await metrics "http://127.0.0.1:$metrics_port/metrics" "${servers[1]}"

# ---- Time. Page i: its name in the table and its URL; every page but /metrics (the last) must
# report its SQL time.
names=(/ /queues/bench-a /executions '/executions?status=completed' '/executions?status=running' '/executions/{id}'
       /dead-letters '/dead-letters?queue=bench-a' /workers /reaper)
urls=()
for name in "${names[@]}"; do urls+=("$dashboard${name/\{id\}/$execution}"); done
names+=(/metrics)
urls+=("http://127.0.0.1:$metrics_port/metrics")
seconds_of=() sql_ms_of=()

# fetch URL: one request; sets code, seconds (curl's time_total) and sql_ms (the Server-Timing
# db entry, empty without one).
fetch() {
  local out timing re='(^|[ ,])db;dur=([0-9.]+)'
  out=$(curl -s -o /dev/null --max-time 60 -w '%{http_code} %{time_total} %header{server-timing}' "$1" || true)
  read -r code seconds timing <<<"$out"
  case "$timing" in %header*) fail "curl $(curl --version | awk '{ print $2; exit }') cannot print a response header (-w %header needs 7.84)" ;; esac
  sql_ms=""
  if [[ $timing =~ $re ]]; then sql_ms=${BASH_REMATCH[2]}; fi
}

for round in $(seq 1 $((3 + requests))); do
  beat
  for i in "${!urls[@]}"; do
    fetch "${urls[i]}"
    [ "$code" = 200 ] || fail "${urls[i]} answered ${code:-nothing} (round $round)"
    if [ -z "$sql_ms" ] && [ "$i" -lt $((${#urls[@]} - 1)) ]; then
      fail "${urls[i]} answered without a Server-Timing: db;dur=MS header"
    fi
    [ "$round" -gt 3 ] || continue
    seconds_of[i]+=" $seconds"
    [ -z "$sql_ms" ] || sql_ms_of[i]+=" $sql_ms"
  done
done

# ms SECONDS -> milliseconds, one decimal
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
rows=()
for i in "${!urls[@]}"; do
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  p50=$(ms "$(median ${seconds_of[i]})") p95=$(ms "$(percentile 95 ${seconds_of[i]})")
  met=$(awk -v p="$p95" 'BEGIN { print (p <= 200) ? "yes" : "no" }')
  sql_p50="–" sql_ratio="–"
  if [ -n "${sql_ms_of[i]:-}" ]; then
    # shellcheck disable=SC2086
    sql_p50=$(awk -v v="$(median ${sql_ms_of[i]})" 'BEGIN { printf "%.1f", v }')
    sql_ratio=$(ratio "$sql_p50" "$p50")
  fi
  label="\`${names[i]}\`"
  [ "${names[i]}" != /metrics ] || label+=" (muster metrics)"
  rows+=("| $label | $p50 | $p95 | $sql_p50 | $sql_ratio | $met |")
  echo "dashboard ${names[i]}: p50 $p50 ms, p95 $p95 ms, SQL p50 $sql_p50 ms" >&2
done

# ---- The scrape's statement beside plain SQL, through pgbench (one client): what `muster
# metrics` runs, and the exact counts a hand-rolled exporter would run instead (GROUP BY over
# the whole tables). Same server, same rows, right after the pages.
cat > "$work/snapshot.sql" <<'SQL'
SELECT * FROM bench.metrics_snapshot();
SQL
cat > "$work/plain.sql" <<'SQL'
SELECT queue, state, count(*) FROM bench.messages GROUP BY queue, state;
SELECT queue, count(*) FROM bench.dead_letters GROUP BY queue;
SELECT status, count(*) FROM bench.executions GROUP BY status;
SQL
# latency SCRIPT -> pgbench's latency average in ms; fails loudly when pgbench does. (fetch
# reuses $seconds for curl's time: the suite's --seconds is kept here.)
pgbench_seconds=${BENCH_SECONDS:-8}
latency() {
  local out
  out=$(pgbench -n -c 1 -j 1 -T "$pgbench_seconds" -f "$1" "$url" 2>&1) || { tail -n 5 <<<"$out" >&2; fail "pgbench failed for $1"; }
  awk '/^latency average = / { print $4; exit }' <<<"$out"
}
snapshot_ms=() plain_ms=()
for _ in $(seq 1 "$runs"); do
  snapshot_ms+=("$(latency "$work/snapshot.sql")")
  plain_ms+=("$(latency "$work/plain.sql")")
done
snapshot_ms=$(median "${snapshot_ms[@]}") plain_ms=$(median "${plain_ms[@]}")
echo "dashboard scrape SQL: metrics_snapshot() $snapshot_ms ms, plain exact counts $plain_ms ms" >&2

out=$(mktemp)
{
  echo "## Dashboard"
  echo
  echo "Command: \`$BENCH_COMMAND\` ($requests requests per page after 3 warm-up ones, the pages round-robin; $(nproc) vCPU). Target: p95 ≤ 200 ms for every page and the scrape."
  echo
  echo "Server: $(server_settings). \`muster dashboard\` and \`muster metrics\` on the same machine, schema bench. Times: curl's time_total, one new connection per request. SQL: the time the dashboard waited for its reads, from its \`Server-Timing: db;dur=\` header; the ratio is its share of the page."
  echo
  echo "Rows present (filled with plain SQL, scripts/bench/dashboard/*.sql): archive $(commas "$archived") over 7 days; messages $(commas "$ready") ready, $(commas "$delayed") delayed, $(commas "$leased") leased ($(commas "$keys") dedup keys); dead letters $(commas "$dead"); executions $(commas "$executions") ($(commas "$completed") completed, $(commas "$failed") failed, $(commas "$canceled") canceled, $(commas "$running") running, $(commas "$pending") pending) with $(commas "$barriers") barriers ($(commas "$armed") armed, $(commas "$members_pending") members pending); workers $(commas "$workers") ($(commas "$alive") alive). \`/executions/{id}\`: the running execution with the most messages waiting ($(commas "$execution_messages"); its armed barrier has $(commas "${execution_members:-0}") members)."
  echo
  echo "| page | p50 ms | p95 ms | SQL p50 ms | SQL / page ratio | p95 ≤ 200 ms |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The scrape's statement beside the plain-SQL limit for the same question (pgbench, one client, $pgbench_seconds s, median of $runs interleaved runs): exact counts by GROUP BY, what a hand-rolled exporter runs, grow with the tables; \`metrics_snapshot()\` stops each count at its cap (10,000) and asks the planner beyond it."
  echo
  echo "| statement | latency ms | ratio |"
  echo "|---|---|---|"
  echo "| \`SELECT * FROM metrics_snapshot()\` (muster metrics, the queues page) | $snapshot_ms | $(ratio "$snapshot_ms" "$plain_ms") |"
  echo "| plain SQL: messages by queue and state, dead letters by queue, executions by status, exact | $plain_ms | 1.00 |"
  echo
} > "$out"
write_section Dashboard "$out"
cat "$out"
rm -f "$out"
