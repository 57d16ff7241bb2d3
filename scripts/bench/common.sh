# Helpers shared by the benchmark suites (sourced, not run).
url=${BENCH_URL:-${MUSTER_TEST_DATABASE_URL:?no database}}
muster=${MUSTER_BINARY:?}
runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-8}

sql() { psql "$url" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# pgbench_rate SCRIPT CLIENTS JOBS_PER_TRANSACTION [PGBENCH OPTIONS...] -> jobs/s
# Fails loudly when pgbench fails or any client aborted (a drained queue makes the next
# statement fail, and pgbench then reports a rate over the ramp only).
pgbench_rate() {
  local out status tps
  set +e
  out=$(pgbench -n -M prepared -c "$2" -j "$2" -T "$seconds" "${@:4}" -f "$1" "$url" 2>&1)
  status=$?
  set -e
  tps=$(awk '/^tps = / { print $3; exit }' <<<"$out")
  if [ "$status" -ne 0 ] || [ -z "$tps" ] || grep -q "aborted" <<<"$out"; then
    echo "pgbench failed for $1 at $2 clients (exit $status):" >&2
    tail -n 5 <<<"$out" >&2
    exit 1
  fi
  awk -v t="$tps" -v j="$3" 'BEGIN { printf "%.1f", t * j }'
}

# require_rows WHAT SQL: fails loudly unless SQL (a count) is above 0 (a run that emptied its
# table measured empty reads, not the job).
require_rows() {
  local n
  n=$(sql "$2")
  [ "$n" -gt 0 ] || { echo "bench: $1 ran dry (no rows left): the figure measured nothing; prefill more" >&2; exit 1; }
}

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# percentile P VALUES...: the P-th percentile of the values (nearest rank: the smallest value
# with at least P % of them at or below it)
percentile() {
  local p=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 } END { r = p * NR / 100; i = (r > int(r)) ? int(r) + 1 : r; print v[i < 1 ? 1 : i] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

server_settings() {
  sql "SELECT 'PostgreSQL ' || current_setting('server_version') || ', fsync=' || current_setting('fsync')
       || ', synchronous_commit=' || current_setting('synchronous_commit')
       || ', full_page_writes=' || current_setting('full_page_writes')
       || ', shared_buffers=' || current_setting('shared_buffers')"
}

# write_section NAME FILE: replaces "## NAME" (up to the next "## ") in docs/benchmarks.md.
write_section() {
  local doc=docs/benchmarks.md
  mkdir -p docs
  [ -f "$doc" ] || printf '# Benchmarks\n\nEvery figure is the median of several interleaved runs on one server in one run, printed beside the plain-SQL limit: pgbench (-M prepared) running scripts/bench/limits/*.sql, what PostgreSQL itself needs for the same job with one plain table and no functions. The statements Muster sends, run by pgbench, are a second column: from the Swift figure to it is the cost of the client, from it to the limit the cost of the schema.\n' > "$doc"
  awk -v name="## $1" -v file="$2" '
    $0 == name { while ((getline line < file) > 0) print line; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) { print ""; while ((getline line < file) > 0) print line } }
  ' "$doc" > "$doc.new"
  mv "$doc.new" "$doc"
}
