-- The statement a worker's group commit issues (complete_members: fenced ack of every
-- message, the member records, one decrement of the barrier row), for the next :batch
-- leased members, looked up by key as in fanin.sql.
SELECT count(*) FILTER (WHERE c.applied)
FROM (
    SELECT array_agg(m.message_id) AS ids, array_agg(1) AS read_cts, array_agg(m.barrier_id) AS barriers,
           array_agg(m.member_key) AS keys, array_agg('{}'::jsonb) AS results
    FROM (SELECT nextval('bench.fanin_seq') AS n FROM generate_series(1, :batch)) AS s
    JOIN bench.barrier_members AS m ON m.barrier_id = :barrier AND m.member_key = 'm' || s.n
) AS b
CROSS JOIN LATERAL bench.complete_members('bench', b.ids, b.read_cts, b.barriers, b.keys, b.results) AS c;
