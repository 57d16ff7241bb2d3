-- Muster's Queue.read(limit: 1) then Queue.ack: two statements, two commits.
SELECT array_agg(id) AS ids, array_agg(read_ct) AS rcs FROM bench.read('bench', 1, NULL, 'pgbench') \gset
SELECT id, acked FROM bench.ack('bench', :ids::bigint[], :rcs::int[]);
