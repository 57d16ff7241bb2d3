#!/usr/bin/env bash
# Retention by partition drop (issue 19; run by scripts/bench.sh retention [--runs 3]): the time
# the reaper's drop_expired_history_partitions() takes to remove a day of 1,000,000 archived
# messages, beside what PostgreSQL needs for the same job: DROP TABLE of a plain table of the
# same 1,000,000 rows (the floor), and the DELETE a hand-rolled retention runs on one plain
# table (what the drop replaces). Runs interleaved; medians. Writes the ## Retention section.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/common.sh

rows=1000000
"$muster" migrate --database-url "$url" --schema retention >/dev/null
sql "INSERT INTO retention.queues (name) VALUES ('bench') ON CONFLICT DO NOTHING" >/dev/null

# timed SQL: the server-side milliseconds of one statement (psql's \timing).
timed() { psql "$url" -qAtX -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" | awk '/^Time: / { print $2 }' | tail -n 1; }
fill="SELECT g, 'bench', jsonb_build_object('n', g), 'noop', 0, 'k' || g, now() - interval '12 days', 1, 0,
             date_trunc('day', now(), 'UTC') - interval '10 days' + (g % 86400000) * interval '1 millisecond'
      FROM generate_series(1, $rows) AS g"
columns="id, queue, payload, task, priority, dedup_key, enqueued_at, read_ct, error_ct, archived_at"

drops=() plains=() deletes=()
for run in $(seq 1 "$runs"); do
  # Muster: a day ten days ago holding the rows, dropped by the reaper's function.
  sql "SELECT retention.ensure_history_partitions(now() - interval '10 days', 1)" >/dev/null
  sql "INSERT INTO retention.archive ($columns) $fill" >/dev/null
  [ "$(sql "SELECT count(*) FROM retention.archive")" -eq "$rows" ] || { echo "retention: the fill missed the day" >&2; exit 1; }
  sql "VACUUM ANALYZE retention.archive" >/dev/null
  drops+=("$(timed "SELECT count(*) FROM retention.drop_expired_history_partitions(now())")")
  [ "$(sql "SELECT count(*) FROM retention.archive")" -eq 0 ] || { echo "retention: the drop left rows" >&2; exit 1; }

  # Plain SQL: the same rows in one plain table, dropped, and deleted.
  for job in drop delete; do
    sql "DROP TABLE IF EXISTS public.retention_plain; CREATE TABLE public.retention_plain (LIKE retention.archive INCLUDING DEFAULTS); ALTER TABLE public.retention_plain ADD PRIMARY KEY (id); CREATE INDEX ON public.retention_plain (queue, archived_at)" >/dev/null
    sql "INSERT INTO public.retention_plain ($columns) $fill" >/dev/null
    sql "VACUUM ANALYZE public.retention_plain" >/dev/null
    if [ "$job" = drop ]; then
      plains+=("$(timed "DROP TABLE public.retention_plain")")
    else
      deletes+=("$(timed "DELETE FROM public.retention_plain WHERE archived_at < now() - interval '7 days'")")
      [ "$(sql "SELECT count(*) FROM public.retention_plain")" -eq 0 ] || { echo "retention: the plain delete left rows" >&2; exit 1; }
    fi
  done
  echo "retention run $run: drop ${drops[-1]} ms, plain DROP TABLE ${plains[-1]} ms, plain DELETE ${deletes[-1]} ms" >&2
done
sql "DROP TABLE IF EXISTS public.retention_plain" >/dev/null

drop=$(median "${drops[@]}") plain=$(median "${plains[@]}") delete=$(median "${deletes[@]}")
out=$(mktemp)
{
  echo "## Retention"
  echo
  echo "Command: \`${BENCH_COMMAND:-scripts/bench.sh retention}\` ($(nproc) vCPU; median of $runs interleaved runs)."
  echo
  echo "Server: $(server_settings). The job: remove a day of $rows archived messages (with the archive's indexes) past retention. Muster: \`drop_expired_history_partitions()\`, what the reaper runs (it finds the expired day, checks no row in it is within its queue's retention, counts the rows it reports (a scan of the day, most of the difference to the limit), takes the lock with a 200 ms timeout, drops the partition). Plain-SQL limit: \`DROP TABLE\` of one plain table holding the same rows and indexes. Beside them, the \`DELETE ... WHERE archived_at < now() - interval '7 days'\` a hand-rolled retention runs on that plain table (and vacuum must then clean)."
  echo
  echo "| job | ms | ratio to the limit |"
  echo "|---|---|---|"
  echo "| Muster: drop the expired day | $drop | $(ratio "$drop" "$plain") |"
  echo "| plain SQL limit: DROP TABLE | $plain | 1.00 |"
  echo "| plain DELETE of the same rows | $delete | $(ratio "$delete" "$plain") |"
  echo
  awk -v d="$drop" 'BEGIN { printf "Target: retention of 1,000,000 history rows by partition drop under 1 s: %.0f ms, %s.\n", d, (d < 1000) ? "met" : "not met" }'
  echo
} > "$out"
write_section Retention "$out"
cat "$out"
rm -f "$out"
