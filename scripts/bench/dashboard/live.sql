-- The dashboard benchmark's live rows (run by scripts/bench/dashboard.sh in one transaction,
-- after TRUNCATE ... RESTART IDENTITY): everything but the archive.
--   workers        50: 1-25 alive (heartbeats refreshed by the script), 26-50 gone, 42-50 for
--                  over a day (the reaper's stale workers), 41-50 stopped gracefully
--   executions     100,000, execution n's id = md5('bench-execution:' || n)::uuid (the archive
--                  links to the same ids): 1-1,000 running, 1,001-1,200 pending, then by
--                  n % 100: 0-3 failed, 4 canceled, the rest completed; spread over 7 days
--   barriers       one per running execution (armed; execution 1's has 1,000 members, 600
--                  pending, the others 10), and a finished one per n % 100 in (0, 4, 5)
--   members        the armed barriers' members; the pending ones' messages are in messages
--   messages       1,000,000, ids 10,020,001 on, bench-a..d 40/30/20/10 %: by id % 10, 0
--                  delayed, 1 leased (by a live worker), the rest ready; delays and leases end
--                  6 hours from now or later, so a second run within 5 hours can reuse them
--   message_keys   the dedup key of every message, as send() records it
--   dead_letters   20,000, ids 10,000,001-10,020,000 over 7 days; one in three belongs to a
--                  failed execution (their trigger then finds it already failed)

-- The ids of the 25 live workers (archive.sql uses the same formula), as one constant.
SELECT array_agg('bench-' || lpad(n::text, 2, '0') || ':' || (4000 + n) || ':' || left(md5(n::text), 8) ORDER BY n)
       AS worker_ids
FROM generate_series(1, 25) AS n \gset

INSERT INTO bench.workers (id, host, pid, queues, concurrency, in_flight, started_at, last_heartbeat_at, stopped_at)
SELECT 'bench-' || lpad(n::text, 2, '0') || ':' || (4000 + n) || ':' || left(md5(n::text), 8),
       'bench-' || lpad(n::text, 2, '0'),
       4000 + n,
       ARRAY['bench-a', 'bench-b', 'bench-c', 'bench-d'],
       16,
       CASE WHEN n <= 25 THEN n % 17 ELSE 0 END,
       now() - (n + 24) * interval '1 hour',
       h.beat,
       CASE WHEN n > 40 THEN h.beat END
FROM generate_series(1, 50) AS n,
     LATERAL (SELECT CASE WHEN n <= 25 THEN now() - (n % 10) * interval '1 second'
                          ELSE now() - (n - 25) * interval '90 minutes' END) AS h (beat);

INSERT INTO bench.executions (id, pipeline, stage, status, idempotency_key, input_summary, output, error, deadline,
                              created_at, updated_at, finished_at, start_queue, start_task, start_payload)
SELECT md5('bench-execution:' || n)::uuid,
       (ARRAY['ingest', 'billing.monthly', 'report:daily', 'thumbnails', 'export'])[n % 5 + 1],
       CASE WHEN n <= 1000 OR (n > 1200 AND n % 100 IN (0, 4, 5)) THEN 'fan-out' END,
       s.status,
       CASE WHEN n % 3 = 0 THEN 'order-' || n END,
       jsonb_build_object('items', n % 100 + 1),
       CASE WHEN s.status = 'completed' THEN '{"ok": true}'::jsonb END,
       CASE s.status
           WHEN 'failed' THEN (ARRAY['member item-3 failed: HTTP 503 from upstream',
                                     'deadline passed with 2 of 10 members missing',
                                     'message dead-lettered: max_attempts: timeout after 30s'])[n % 3 + 1]
           WHEN 'canceled' THEN 'canceled by an operator'
       END,
       CASE WHEN n % 7 = 0 THEN t.created_at + interval '1 day' END,
       t.created_at,
       coalesce(t.finished_at, t.created_at + interval '1 second'),
       t.finished_at,
       'bench-a', 'start', jsonb_build_object('order', n)
FROM generate_series(1, 100000) AS n,
     LATERAL (SELECT CASE WHEN n <= 1000 THEN 'running' WHEN n <= 1200 THEN 'pending'
                          WHEN n % 100 < 4 THEN 'failed' WHEN n % 100 = 4 THEN 'canceled'
                          ELSE 'completed' END) AS s (status),
     LATERAL (SELECT CASE WHEN n <= 1200 THEN now() - n * interval '1 second'
                          ELSE now() - (100001 - n) * (interval '7 days' / 100000) END) AS c (at),
     LATERAL (SELECT c.at, CASE WHEN n > 1200 THEN c.at + (n % 600 + 2) * interval '1 second' END) AS t (created_at, finished_at);

-- Barrier ids follow execution numbers (RESTART IDENTITY), so execution 1's barrier is 1.
INSERT INTO bench.barriers (execution_id, name, expected, remaining, failed, on_failure, status, callback_queue,
                            callback_task, callback_message_id, deadline, created_at, last_completed_at, fired_at,
                            finalized_at)
SELECT e.id, 'fan-out', b.expected, b.remaining, b.failed,
       CASE WHEN e.status = 'failed' THEN 'fail_fast' ELSE 'wait_for_all' END,
       b.status, 'bench-d', 'aggregate',
       CASE WHEN b.status IN ('fired', 'failed') THEN 20000000 + n END,
       CASE WHEN e.status = 'running' AND n % 7 = 0 THEN now() + interval '1 day' END,
       e.created_at + interval '1 second',
       CASE WHEN b.status <> 'armed' THEN e.finished_at - interval '1 second'
            WHEN b.remaining < b.expected THEN e.created_at + (now() - e.created_at) / 2 END,
       CASE WHEN b.status IN ('fired', 'failed') THEN e.finished_at - interval '1 second' END,
       CASE WHEN b.status IN ('fired', 'failed') THEN e.finished_at END
FROM generate_series(1, 100000) AS n
JOIN bench.executions AS e ON e.id = md5('bench-execution:' || n)::uuid
CROSS JOIN LATERAL (
    SELECT CASE e.status WHEN 'running' THEN 'armed' WHEN 'completed' THEN 'fired' ELSE e.status END,
           CASE WHEN n = 1 THEN 1000 ELSE 10 END,
           CASE WHEN n = 1 THEN 600 WHEN e.status = 'running' THEN n % 10 + 1 WHEN e.status = 'completed' THEN 0 ELSE 5 END,
           CASE e.status WHEN 'completed' THEN n % 3 WHEN 'failed' THEN 1 ELSE 0 END
) AS b (status, expected, remaining, failed)
WHERE e.stage = 'fan-out'
ORDER BY n;

-- Members of the armed barriers: the first expected - remaining succeeded, the rest pending
-- with message ids 10,020,001 on (their messages come first in messages).
INSERT INTO bench.barrier_members (barrier_id, member_key, message_id, status, result, completed_at)
SELECT b.id, 'item-' || k,
       CASE WHEN p.pending THEN 10020000 + row_number() OVER (PARTITION BY p.pending ORDER BY b.id, k)
            ELSE b.id * 1000 + k END,
       CASE WHEN p.pending THEN 'pending' ELSE 'succeeded' END,
       CASE WHEN NOT p.pending THEN jsonb_build_object('item', k) END,
       CASE WHEN NOT p.pending THEN b.last_completed_at END
FROM bench.barriers AS b,
     generate_series(1, b.expected) AS k,
     LATERAL (SELECT k > b.expected - b.remaining) AS p (pending)
WHERE b.status = 'armed';

INSERT INTO bench.messages (id, queue, state, payload, headers, task, execution_id, priority, dedup_key,
                            enqueued_at, visible_at, read_ct, last_read_at, leased_by, error_ct, last_error)
WITH members AS (
    SELECT (m.message_id - 10020000)::integer AS i, 'bench-c' AS queue, 'process-item' AS task, b.execution_id,
           jsonb_build_object('muster-barrier', b.id::text, 'muster-member', m.member_key) AS headers,
           'muster:barrier:' || b.id || ':' || m.member_key AS dedup_key
    FROM bench.barrier_members AS m
    JOIN bench.barriers AS b ON b.id = m.barrier_id
    WHERE m.status = 'pending'
),
source AS (
    SELECT * FROM members
    UNION ALL
    SELECT i,
           (ARRAY['bench-a', 'bench-a', 'bench-a', 'bench-a', 'bench-b', 'bench-b', 'bench-b', 'bench-c', 'bench-c', 'bench-d'])[i / 10 % 10 + 1],
           (ARRAY['resize', 'email', 'charge', 'index', 'export'])[i / 100 % 5 + 1],
           NULL, NULL, 'bench:' || (10020000 + i)
    FROM generate_series((SELECT count(*) FROM members)::integer + 1, 1000000) AS i
)
SELECT 10020000 + s.i, s.queue, x.state, ('{"order": ' || s.i || '}')::jsonb, s.headers, s.task, s.execution_id,
       CASE s.i % 100 WHEN 52 THEN -1 WHEN 63 THEN 1 ELSE 0 END,
       s.dedup_key,
       x.enqueued_at,
       CASE x.state
           WHEN 'ready' THEN x.enqueued_at
           WHEN 'delayed' THEN now() + interval '6 hours' + (s.i % 1000) * interval '10 minutes'
           ELSE now() + interval '6 hours' + (s.i % 3600) * interval '1 second'
       END,
       x.read_ct,
       CASE WHEN x.state = 'leased' THEN now() - (s.i % 300 + 1) * interval '1 second'
            WHEN x.read_ct > 0 THEN x.enqueued_at + interval '1 second' END,
       CASE WHEN x.state = 'leased' THEN (:'worker_ids'::text[])[s.i / 10 % 25 + 1] END,
       x.read_ct - (x.state = 'leased')::integer,
       CASE WHEN x.read_ct > (x.state = 'leased')::integer THEN 'HTTP 503 from upstream' END
FROM source AS s,
     LATERAL (SELECT CASE s.i % 10 WHEN 0 THEN 'delayed' WHEN 1 THEN 'leased' ELSE 'ready' END,
                     now() - (1000001 - s.i) * (interval '1 hour' / 1000000),
                     CASE WHEN s.i % 10 = 1 THEN 1 + (s.i % 100 = 11)::integer
                          WHEN s.i % 100 IN (2, 20) THEN 2 ELSE 0 END) AS x (state, enqueued_at, read_ct);
SELECT setval(pg_get_serial_sequence('bench.messages', 'id'), 11020000) AS last_message_id \gset

INSERT INTO bench.message_keys (queue, dedup_key, message_id, created_at)
SELECT queue, dedup_key, id, enqueued_at FROM bench.messages;

INSERT INTO bench.dead_letters (id, queue, payload, task, execution_id, priority, dedup_key, enqueued_at, read_ct,
                                error_ct, last_error, leased_by, reason, dead_at)
SELECT 10000000 + k,
       (ARRAY['bench-a', 'bench-a', 'bench-a', 'bench-a', 'bench-b', 'bench-b', 'bench-b', 'bench-c', 'bench-c', 'bench-d'])[k % 10 + 1],
       ('{"order": ' || (10000000 + k) || '}')::jsonb,
       (ARRAY['resize', 'email', 'charge', 'index', 'export'])[k / 100 % 5 + 1],
       CASE WHEN k % 3 = 0 THEN md5('bench-execution:' || (1300 + k / 9 % 987 * 100 + k / 3 % 3))::uuid END,
       0,
       'bench:' || (10000000 + k),
       d.at - r.read_ct * interval '1 minute',
       r.read_ct,
       CASE WHEN k % 7 = 0 THEN 0 ELSE r.read_ct END,
       CASE WHEN k % 7 <> 0 THEN (ARRAY['timeout after 30s', 'HTTP 503 from upstream', 'invalid input: missing sku',
                                        'connection reset by peer'])[k / 7 % 4 + 1] END,
       (:'worker_ids'::text[])[k / 10 % 25 + 1],
       r.reason,
       d.at
FROM generate_series(1, 20000) AS k,
     LATERAL (SELECT now() - interval '7 days' + k * (interval '7 days' / 20000)) AS d (at),
     LATERAL (SELECT CASE k / 10 % 10 WHEN 8 THEN 'non_retryable' WHEN 9 THEN 'explicit' ELSE 'max_attempts' END,
                     CASE WHEN k / 10 % 10 < 8 THEN 5 ELSE 1 END) AS r (reason, read_ct);
