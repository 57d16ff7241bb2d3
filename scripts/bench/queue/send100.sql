-- The statement Muster's Queue.send issues for a batch of 100 messages.
SELECT count(*)
FROM bench.send('bench', array_fill('{"n":1}'::jsonb, ARRAY[100]),
                ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, 100)),
                array_fill(NULL::jsonb, ARRAY[100]), array_fill(NULL::text, ARRAY[100]),
                array_fill(NULL::uuid, ARRAY[100]), array_fill(0::smallint, ARRAY[100]),
                array_fill('0 microseconds'::interval, ARRAY[100]));
