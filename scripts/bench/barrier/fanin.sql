-- The statement Muster's Barriers.complete issues (complete_member: fenced ack + member
-- record + counter), for the next leased member; the member is looked up by key here
-- because pgbench has no shared counter (Muster's completers already hold the lease).
SELECT c.applied
FROM (SELECT nextval('bench.fanin_seq') AS n) AS s
JOIN bench.barrier_members AS m ON m.barrier_id = :barrier AND m.member_key = 'm' || s.n
CROSS JOIN LATERAL bench.complete_member('bench', m.message_id, 1, m.barrier_id, m.member_key, true, '{}'::jsonb) AS c;
