-- The dashboard benchmark's archive (run by scripts/bench/dashboard.sh, several sessions at
-- once): archive ids :lo to :hi of :total, spread over the 7 days before :t0 in id order, so
-- the primary key and archive_queue grow at their right-hand ends (one per queue).
-- Queues bench-a..d get 40/30/20/10 % of the rows; one row in seven belongs to an execution
-- (the ids live.sql gives executions 1..100,000); one in 53 needed a retry.

-- The ids of the 25 live workers (live.sql uses the same formula), as one constant.
SELECT array_agg('bench-' || lpad(n::text, 2, '0') || ':' || (4000 + n) || ':' || left(md5(n::text), 8) ORDER BY n)
       AS worker_ids
FROM generate_series(1, 25) AS n \gset

INSERT INTO bench.archive (id, queue, payload, task, execution_id, priority, dedup_key, enqueued_at,
                           read_ct, error_ct, last_error, leased_by, archived_at)
SELECT i,
       (ARRAY['bench-a', 'bench-a', 'bench-a', 'bench-a', 'bench-b', 'bench-b', 'bench-b', 'bench-c', 'bench-c', 'bench-d'])[i % 10 + 1],
       ('{"order": ' || i || '}')::jsonb,
       (ARRAY['resize', 'email', 'charge', 'index', 'export'])[i / 10 % 5 + 1],
       CASE WHEN i % 7 = 0 THEN md5('bench-execution:' || (i / 7 % 100000 + 1))::uuid END,
       0,
       'bench:' || i,
       a.at - (i % 60 + 1) * interval '1 second',
       1 + (i % 53 = 0)::integer,
       (i % 53 = 0)::integer,
       CASE WHEN i % 53 = 0 THEN 'timeout after 30s' END,
       (:'worker_ids'::text[])[i / 10 % 25 + 1],
       a.at
FROM generate_series(:lo::bigint, :hi::bigint) AS i,
     LATERAL (SELECT :'t0'::timestamptz - interval '7 days' + i * (interval '7 days' / :total)) AS a (at);
