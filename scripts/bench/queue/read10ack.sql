-- Muster's Queue.read(limit: 10) then one batched Queue.ack: two statements, two commits.
SELECT array_agg(id) AS ids, array_agg(read_ct) AS rcs FROM bench.read('bench', 10, NULL, 'pgbench') \gset
SELECT id, acked FROM bench.ack('bench', :ids::bigint[], :rcs::int[]);
