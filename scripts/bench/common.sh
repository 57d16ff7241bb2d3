# Helpers shared by the benchmark suites (sourced, not run).
url=${BENCH_URL:-${MUSTER_TEST_DATABASE_URL:?no database}}
muster=${MUSTER_BINARY:?}
runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-8}

sql() { psql "$url" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# pgbench_rate SCRIPT CLIENTS JOBS_PER_TRANSACTION [PGBENCH OPTIONS...] -> jobs/s
pgbench_rate() {
  local tps
  tps=$(pgbench -n -M prepared -c "$2" -j "$2" -T "$seconds" "${@:4}" -f "$1" "$url" 2>&1 \
    | awk '/^tps = / { print $3; exit }')
  [ -n "$tps" ] || { echo "pgbench failed for $1" >&2; exit 1; }
  awk -v t="$tps" -v j="$3" 'BEGIN { printf "%.1f", t * j }'
}

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

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
  [ -f "$doc" ] || printf '# Benchmarks\n\nEvery figure is the median of several runs, printed beside the raw-SQL limit: pgbench (-M prepared) running the same statements on the same server in the same run.\n' > "$doc"
  awk -v name="## $1" -v file="$2" '
    $0 == name { while ((getline line < file) > 0) print line; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) { print ""; while ((getline line < file) > 0) print line } }
  ' "$doc" > "$doc.new"
  mv "$doc.new" "$doc"
}
