-- Reads that do not walk the dead (docs/operations.md ## Held snapshots and bloat).
--
-- Every lease leaves its message's entry in messages_ready behind, and every ack leaves its
-- lease's entry in messages_pending; vacuum removes them, unless a snapshot older than them
-- is still open somewhere in the database (a report, pg_dump, an idle transaction). Then
-- they stay, and a read that starts at the front of the queue walks every message handed
-- out since that snapshot began: 174,751 entries per read after minutes of a held snapshot
-- at 1,793 messages/s, and the throughput fell to 0.41 (scripts/bench.sh soak).
--
-- read_from() starts where the reader's previous read ended instead, and says where the
-- next one should start:
--   ready  (priority, id) after the last ready message it leased; messages of a more
--          urgent priority than that are still looked for from their start;
--   due    delayed messages and expired leases due at or after a time: the oldest due row it
--          left, or 200 ms before its statement's time when it took every due row it saw.
-- What a read starting there cannot see: a send committed after a later id was already read
-- (a long transaction), a message released or requeued back to ready (it keeps its id), a
-- due row written by a transaction that committed more than 200 ms after its visible_at, a
-- row another reader had locked and then left. A reader therefore reads from the front now
-- and then (read() always does; the worker does so at least every second, less often when
-- such a read is slow: Sources/Muster/Worker/ReadCursor.swift), so each of those waits at
-- most that long. Nothing is lost: a message is only ever taken by a read that saw it.

CREATE FUNCTION read_from(
    queue text, qty integer, visibility_timeout interval, worker text,
    ready_after_priority smallint, ready_after_id bigint, due_after timestamptz
)
RETURNS TABLE (
    id bigint, read_ct integer, payload jsonb, headers jsonb, task text, execution_id uuid, priority smallint,
    enqueued_at timestamptz, lease_expires_at timestamptz, error_ct integer, last_error text, attempt integer,
    next_ready_priority smallint, next_ready_id bigint, next_due_after timestamptz
)
LANGUAGE plpgsql SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    lease        interval;
    max_attempts integer;
    paused       boolean;
    -- NULL positions read from the front.
    after_priority smallint := coalesce(ready_after_priority, -32768);
    after_id       bigint := coalesce(ready_after_id, 0);
    due_from       timestamptz := coalesce(due_after, '-infinity');
BEGIN
    SELECT coalesce(read_from.visibility_timeout, q.visibility_timeout), q.max_attempts, q.paused
    INTO lease, max_attempts, paused
    FROM queues AS q WHERE q.name = read_from.queue;
    IF NOT FOUND THEN
        PERFORM queue_settings(read_from.queue);
    END IF;
    IF qty IS NULL OR qty < 1 OR qty > 1000 THEN
        RAISE EXCEPTION 'read: qty must be between 1 and 1000 (got %)', qty USING ERRCODE = 'MU003';
    END IF;
    IF lease < '100 milliseconds' OR lease > '12 hours' THEN
        RAISE EXCEPTION 'read: visibility timeout must be between 100 ms and 12 h' USING ERRCODE = 'MU003';
    END IF;
    IF paused THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH urgent AS (
        -- More urgent than where the reader is: empty (no index entry at all) for a queue of
        -- one priority, and for a reader starting from the front.
        SELECT m.id, m.priority, m.read_ct - m.snoozes AS attempts, NULL::timestamptz AS due_at FROM messages AS m
        WHERE m.queue = read_from.queue AND m.state = 'ready' AND m.priority < after_priority
        ORDER BY m.priority, m.id
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    ready AS (
        SELECT m.id, m.priority, m.read_ct - m.snoozes AS attempts, NULL::timestamptz AS due_at FROM messages AS m
        WHERE m.queue = read_from.queue AND m.state = 'ready' AND (m.priority, m.id) > (after_priority, after_id)
        ORDER BY m.priority, m.id
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    due AS (
        SELECT m.id, m.priority, m.read_ct - m.snoozes AS attempts, m.visible_at AS due_at FROM messages AS m
        WHERE m.queue = read_from.queue AND m.state <> 'ready' AND m.visible_at >= due_from AND m.visible_at <= now()
        ORDER BY m.visible_at
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    chosen AS (
        SELECT c.* FROM (SELECT * FROM urgent UNION ALL SELECT * FROM ready UNION ALL SELECT * FROM due) AS c
        ORDER BY c.priority, c.id
        LIMIT qty
    ),
    poisoned AS (
        DELETE FROM messages AS m
        USING chosen AS c
        WHERE c.attempts >= max_attempts AND m.id = c.id
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
            visible_at = now() + lease, leased_by = read_from.worker
        FROM chosen AS c
        WHERE c.attempts < max_attempts AND m.id = c.id
        RETURNING m.id, m.read_ct, m.payload, m.headers, m.task, m.execution_id, m.priority, m.enqueued_at,
                  m.visible_at, m.error_ct, m.last_error, m.read_ct - m.snoozes
    ),
    -- The next read's start. Ready: after the last ready message taken; when the ready scans
    -- found nothing at all, after every id handed out so far (at the default priority 0 when
    -- the read started from the front); else where this one started. Due: the oldest due row
    -- seen but not taken; when the due scan stopped at its limit, no later than its last row;
    -- else 200 ms before now (late commits, see above).
    next_ready AS (
        SELECT c.priority, c.id FROM chosen AS c WHERE c.due_at IS NULL
        UNION ALL
        SELECT CASE WHEN after_priority = -32768 THEN 0::smallint ELSE after_priority END,
               CASE WHEN EXISTS (SELECT FROM urgent) OR EXISTS (SELECT FROM ready) THEN after_id
                    ELSE greatest(after_id, coalesce(pg_sequence_last_value('messages_id_seq'), 0)) END
        ORDER BY 1 DESC, 2 DESC
        LIMIT 1
    ),
    next_due AS (
        SELECT greatest(due_from, least(
            (SELECT CASE WHEN count(*) >= qty THEN max(d.due_at) ELSE now() - interval '200 milliseconds' END FROM due AS d),
            (SELECT min(d.due_at) FROM due AS d WHERE NOT EXISTS (SELECT FROM chosen AS c WHERE c.id = d.id))
        )) AS after
    )
    -- One row per leased message, or a single row of NULL message columns carrying only the
    -- next start when nothing was leased.
    SELECT l.*, r.priority, r.id, d.after
    FROM next_ready AS r CROSS JOIN next_due AS d LEFT JOIN leased AS l ON true
    ORDER BY l.priority, l.id;
END
$$;

COMMENT ON FUNCTION read_from(text, integer, interval, text, smallint, bigint, timestamptz) IS 'read(), starting where the reader''s previous read ended (NULL positions: from the front), so a read walks only what was handed out since then, not everything a held snapshot keeps. Each row also carries where the next read should start; with nothing leased, one row of NULL message columns carries it. Read from the front now and then: see 0016_reads_past_the_dead.sql.';

-- read() is read_from() from the front, as before.
CREATE OR REPLACE FUNCTION read(queue text, qty integer, visibility_timeout interval DEFAULT NULL, worker text DEFAULT NULL)
RETURNS TABLE (
    id bigint, read_ct integer, payload jsonb, headers jsonb, task text, execution_id uuid, priority smallint,
    enqueued_at timestamptz, lease_expires_at timestamptz, error_ct integer, last_error text, attempt integer
)
LANGUAGE sql SET search_path FROM CURRENT AS $$
    SELECT r.id, r.read_ct, r.payload, r.headers, r.task, r.execution_id, r.priority, r.enqueued_at,
           r.lease_expires_at, r.error_ct, r.last_error, r.attempt
    FROM read_from(queue, qty, visibility_timeout, worker, NULL, NULL, NULL) AS r
    WHERE r.id IS NOT NULL
$$;
