-- The statement Muster's Queue.send issues for a batch of 100 messages. Like Muster, pgbench
-- passes the 100 payloads and keys as text-array parameters, so the server parses each
-- payload on every call (the first, read-only statement only builds those parameters).
SELECT array_fill('{"n":1}'::text, ARRAY[100])::text AS payloads,
       ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, 100))::text AS keys \gset
SELECT count(*)
FROM bench.send_batch('bench', :payloads::jsonb[], :keys::text[],
                      array_fill(NULL::jsonb, ARRAY[100]), array_fill(NULL::text, ARRAY[100]),
                      array_fill(NULL::uuid, ARRAY[100]), array_fill(0::smallint, ARRAY[100]),
                      array_fill('0 microseconds'::interval, ARRAY[100]), false);
