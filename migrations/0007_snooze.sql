-- Handing a message back without using an attempt (snooze).
--
-- Attempts count a handler's failures, not the infrastructure's. read_ct counts deliveries
-- and is the lease's fencing token, so it must only ever grow; a delivery that should not
-- count (the orchestration step it runs is held by another live holder, its handler's
-- result could not be written, the worker was shut down before it started, the handler
-- asked to run later) is counted in snoozes instead, and everything that judges attempts
-- (the poison check in read(), the reaper's "alive" test, the worker's retry budget) uses
-- read_ct - snoozes.

ALTER TABLE messages ADD COLUMN snoozes integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN snoozes integer NOT NULL DEFAULT 0;

COMMENT ON COLUMN messages.snoozes IS 'Deliveries handed back by snooze(), which do not count as attempts: attempts used = read_ct - snoozes.';
COMMENT ON COLUMN messages.read_ct IS 'Deliveries so far, snoozed ones included; it only grows. Each read increments it; an ack, extension, release or snooze must carry the current value (the fencing token).';
COMMENT ON COLUMN queues.max_attempts IS 'Attempts (deliveries less snoozes) after which a message is moved to dead_letters instead of being read again.';
COMMENT ON COLUMN dead_letters.snoozes IS 'Deliveries that were handed back without using an attempt (snoozed).';
COMMENT ON COLUMN dead_letters.error_ct IS 'Deliveries that ended with a recorded error; read_ct - snoozes - error_ct died without recording one.';

-- read() as in 0002, with the poison check on attempts (read_ct - snoozes) instead of
-- deliveries, and the delivery's attempt number returned for the handler.
DROP FUNCTION read(text, integer, interval, text);

CREATE FUNCTION read(queue text, qty integer, visibility_timeout interval DEFAULT NULL, worker text DEFAULT NULL)
RETURNS TABLE (
    id bigint, read_ct integer, payload jsonb, headers jsonb, task text, execution_id uuid, priority smallint,
    enqueued_at timestamptz, lease_expires_at timestamptz, error_ct integer, last_error text, attempt integer
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    settings queues := queue_settings(read.queue);
    lease    interval := coalesce(read.visibility_timeout, settings.visibility_timeout);
BEGIN
    IF qty IS NULL OR qty < 1 OR qty > 1000 THEN
        RAISE EXCEPTION 'read: qty must be between 1 and 1000 (got %)', qty USING ERRCODE = 'MU003';
    END IF;
    IF lease < '100 milliseconds' OR lease > '12 hours' THEN
        RAISE EXCEPTION 'read: visibility timeout must be between 100 ms and 12 h' USING ERRCODE = 'MU003';
    END IF;
    IF settings.paused THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH ready AS (
        SELECT m.id, m.priority FROM messages AS m
        WHERE m.queue = read.queue AND m.state = 'ready'
        ORDER BY m.priority, m.id
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    due AS (
        SELECT m.id, m.priority FROM messages AS m
        WHERE m.queue = read.queue AND m.state <> 'ready' AND m.visible_at <= now()
        ORDER BY m.visible_at
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    chosen AS (
        SELECT c.id FROM (SELECT * FROM ready UNION ALL SELECT * FROM due) AS c
        ORDER BY c.priority, c.id
        LIMIT qty
    ),
    poisoned AS (
        DELETE FROM messages AS m
        USING chosen AS c
        WHERE m.id = c.id AND m.read_ct - m.snoozes >= settings.max_attempts
        RETURNING m.*
    ),
    buried AS (
        INSERT INTO dead_letters (id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
                                  read_ct, snoozes, error_ct, last_error, leased_by, reason)
        SELECT p.id, p.queue, p.payload, p.headers, p.task, p.execution_id, p.priority, p.dedup_key, p.enqueued_at,
               p.read_ct, p.snoozes, p.error_ct, p.last_error, p.leased_by, 'max_attempts'
        FROM poisoned AS p
    ),
    leased AS (
        UPDATE messages AS m
        SET state = 'leased', read_ct = m.read_ct + 1, last_read_at = now(),
            visible_at = now() + lease, leased_by = read.worker
        FROM chosen AS c
        WHERE m.id = c.id AND m.read_ct - m.snoozes < settings.max_attempts
        RETURNING m.id, m.read_ct, m.payload, m.headers, m.task, m.execution_id, m.priority, m.enqueued_at,
                  m.visible_at, m.error_ct, m.last_error, m.read_ct - m.snoozes
    )
    SELECT * FROM leased ORDER BY priority, id;
END
$$;

COMMENT ON FUNCTION read(text, integer, interval, text) IS
    'Leases up to qty messages (id + read_ct is the lease; attempt = read_ct - snoozes). Messages past max_attempts go to dead_letters. Raises MU001, MU003.';

-- Gives leased messages back, visible again after their delay, fenced like release(), but
-- the delivery does not count as an attempt (snoozes + 1) and no error is recorded. The
-- state test is written so that it cannot match the messages_pending partial index: rows
-- are found by id whatever the statistics say (see 0008).
CREATE FUNCTION snooze(queue text, ids bigint[], read_cts integer[], delays interval[])
RETURNS TABLE (id bigint, snoozed boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_leases(ids, read_cts);
    PERFORM queue_settings(snooze.queue);
    IF delays IS NULL OR cardinality(delays) <> coalesce(cardinality(ids), 0) THEN
        RAISE EXCEPTION 'snooze: delays need one element per id' USING ERRCODE = 'MU003';
    END IF;
    IF EXISTS (SELECT FROM unnest(delays) AS d WHERE d IS NULL OR d < '0' OR d > '366 days') THEN
        RAISE EXCEPTION 'snooze: delays must be between 0 and 366 days' USING ERRCODE = 'MU003';
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct, w.delay FROM unnest(ids, read_cts, delays) AS w(id, read_ct, delay)
    ),
    updated AS (
        UPDATE messages AS m
        SET state = CASE WHEN w.delay > '0' THEN 'delayed' ELSE 'ready' END,
            visible_at = now() + w.delay,
            leased_by = NULL,
            snoozes = m.snoozes + 1
        FROM wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = snooze.queue
        RETURNING m.id
    )
    SELECT w.id, u.id IS NOT NULL FROM wanted AS w LEFT JOIN updated AS u ON u.id = w.id;
END
$$;

COMMENT ON FUNCTION snooze(text, bigint[], integer[], interval[]) IS
    'Fenced hand-back of a batch that does not use an attempt (snoozes + 1, no error recorded): (id, snoozed) per lease.';

-- dead_letter() as in 0002, keeping the snoozes, so a dead letter still tells attempts from
-- hand-backs and crashes from both.
CREATE OR REPLACE FUNCTION dead_letter(queue text, ids bigint[], read_cts integer[], reasons text[], errors text[] DEFAULT NULL)
RETURNS TABLE (id bigint, moved boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(ids), 0);
BEGIN
    PERFORM check_leases(ids, read_cts);
    PERFORM queue_settings(dead_letter.queue);
    IF cardinality(reasons) IS DISTINCT FROM n OR array_position(reasons, NULL) IS NOT NULL
       OR (errors IS NOT NULL AND cardinality(errors) <> n) THEN
        RAISE EXCEPTION 'dead_letter: one non-NULL reason (and optional error) per id' USING ERRCODE = 'MU003';
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct, w.reason, w.error
        FROM unnest(ids, read_cts, reasons, coalesce(errors, array_fill(NULL::text, ARRAY[n])))
             AS w(id, read_ct, reason, error)
    ),
    removed AS (
        DELETE FROM messages AS m
        USING wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = dead_letter.queue
        RETURNING m.*, w.reason AS reason, w.error AS error
    ),
    buried AS (
        INSERT INTO dead_letters (id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
                                  read_ct, snoozes, error_ct, last_error, leased_by, reason)
        SELECT id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
               read_ct, snoozes, error_ct + (error IS NOT NULL)::integer, coalesce(error, last_error), leased_by, reason
        FROM removed
        RETURNING id
    )
    SELECT w.id, b.id IS NOT NULL FROM wanted AS w LEFT JOIN buried AS b ON b.id = w.id;
END
$$;

-- The reaper's deadline sweeps spare work still in retry: attempts, not deliveries, decide.
CREATE OR REPLACE FUNCTION message_is_alive(m messages) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT
RETURN (m.state = 'leased' AND m.visible_at > now())
    OR (m.read_ct > 0 AND m.read_ct - m.snoozes < (SELECT q.max_attempts FROM queues AS q WHERE q.name = m.queue));
