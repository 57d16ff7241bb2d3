-- The statement Muster's Queue.send issues for one message (one-element arrays; the Swift
-- client wakes workers after the commit, so the statement itself does not notify).
SELECT ord, id, duplicate
FROM bench.send_batch('bench', ARRAY['{"n":1}']::jsonb[], ARRAY[gen_random_uuid()::text], ARRAY[NULL]::jsonb[],
                      ARRAY[NULL]::text[], ARRAY[NULL]::uuid[], ARRAY[0]::smallint[], ARRAY['0 microseconds']::interval[], false);
