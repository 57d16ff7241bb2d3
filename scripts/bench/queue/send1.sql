-- The statement Muster's Queue.send issues for one message (send_message: no arrays; the
-- Swift client wakes workers after the commit, so the statement itself does not notify).
SELECT id, duplicate
FROM bench.send_message('bench', '{"n":1}'::jsonb, gen_random_uuid()::text, NULL, NULL, NULL, 0::smallint,
                        '0 microseconds'::interval, false);
