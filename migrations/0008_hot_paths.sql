-- Hot paths that cost what the job needs.
--
-- 1. A producer's commit no longer waits on other producers. PostgreSQL serialises the
--    commits of every transaction that issued NOTIFY on one database-wide lock, so a NOTIFY
--    in each send kept concurrent sends from sharing WAL flushes: more producers made each
--    slower. send_batch() takes notify => false for clients that wake workers themselves
--    after the commit (the Swift client does, one notify in flight per client at a time);
--    send() keeps notifying, so a send from psql or a trigger still wakes a sleeping worker.
--
-- 2. Fenced writes find their rows by primary key whatever the statistics say. With
--    "m.state = 'leased'" in the WHERE clause the planner may scan the messages_pending
--    partial index (whose predicate that condition implies) for every leased row of the
--    queue: after a fan-out of 60,000 members, with statistics gathered while they were
--    ready, one ack took 22-60 ms instead of 0.05 ms. Written "(m.state = 'leased') IS TRUE"
--    (the same test) it cannot match the partial index, so each row is found by id.
--
-- 3. A requeued dead letter keeps its read_ct. It keeps its id (the dedup ledger points at
--    it), and with read_ct reset to 0 a lease (id, n) from before it was dead-lettered
--    matched the requeued message's lease once it had been read n times again: a stale
--    holder's ack deleted another worker's delivery. Its attempts start over through
--    snoozes = read_ct (attempts used = read_ct - snoozes = 0).

-- The batch send of 0002 with a notify switch (default on). One row per input (ord, id,
-- duplicate), as send().
CREATE FUNCTION send_batch(
    queue         text,
    payloads      jsonb[],
    dedup_keys    text[],
    headers       jsonb[]    DEFAULT NULL,
    tasks         text[]     DEFAULT NULL,
    execution_ids uuid[]     DEFAULT NULL,
    priorities    smallint[] DEFAULT NULL,
    delays        interval[] DEFAULT NULL,
    notify        boolean    DEFAULT true
) RETURNS TABLE (ord integer, id bigint, duplicate boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    settings queues := queue_settings(send_batch.queue);
    n        integer := coalesce(cardinality(payloads), 0);
    largest  integer;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    IF cardinality(dedup_keys) IS DISTINCT FROM n
       OR (headers IS NOT NULL AND cardinality(headers) <> n)
       OR (tasks IS NOT NULL AND cardinality(tasks) <> n)
       OR (execution_ids IS NOT NULL AND cardinality(execution_ids) <> n)
       OR (priorities IS NOT NULL AND cardinality(priorities) <> n)
       OR (delays IS NOT NULL AND cardinality(delays) <> n) THEN
        RAISE EXCEPTION 'send: every array must have one element per payload (% payloads)', n USING ERRCODE = 'MU003';
    END IF;
    IF array_position(dedup_keys, NULL) IS NOT NULL OR array_position(payloads, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'send: payloads and dedup keys must not be NULL' USING ERRCODE = 'MU003';
    END IF;
    SELECT max(octet_length(p::text)) INTO largest FROM unnest(payloads) AS p;
    IF largest > settings.max_payload_bytes THEN
        RAISE EXCEPTION 'payload of % bytes exceeds the limit of % bytes of queue %', largest, settings.max_payload_bytes, queue
            USING ERRCODE = 'MU002';
    END IF;
    IF delays IS NOT NULL AND EXISTS (SELECT FROM unnest(delays) AS d WHERE d < '0' OR d > '366 days') THEN
        RAISE EXCEPTION 'send: delays must be between 0 and 366 days' USING ERRCODE = 'MU003';
    END IF;

    IF notify AND (delays IS NULL OR EXISTS (SELECT FROM unnest(delays) AS d WHERE d IS NULL OR d = '0')) THEN
        PERFORM pg_notify(notify_channel(queue), '');
    END IF;

    RETURN QUERY
    WITH input AS (
        -- Ids are drawn here, in input order, so a batch keeps FIFO order within a priority.
        SELECT i.ord::integer AS ord, i.payload, i.dedup_key, i.header, i.task, i.execution_id,
               coalesce(i.priority, 0::smallint) AS priority, coalesce(i.delay, '0') AS delay,
               nextval('messages_id_seq') AS new_id
        FROM unnest(
            payloads, dedup_keys,
            coalesce(headers, array_fill(NULL::jsonb, ARRAY[n])),
            coalesce(tasks, array_fill(NULL::text, ARRAY[n])),
            coalesce(execution_ids, array_fill(NULL::uuid, ARRAY[n])),
            coalesce(priorities, array_fill(NULL::smallint, ARRAY[n])),
            coalesce(delays, array_fill(NULL::interval, ARRAY[n]))
        ) WITH ORDINALITY AS i(payload, dedup_key, header, task, execution_id, priority, delay, ord)
    ),
    -- One message per distinct key: a key repeated inside the batch keeps its first id.
    keyed AS (
        SELECT DISTINCT ON (dedup_key) dedup_key, ord, new_id
        FROM input
        ORDER BY dedup_key, ord
    ),
    claimed AS (
        INSERT INTO message_keys AS k (queue, dedup_key, message_id)
        SELECT send_batch.queue, dedup_key, new_id FROM keyed
        ON CONFLICT (queue, dedup_key) DO UPDATE
        SET message_id = CASE WHEN k.created_at < now() - settings.dedup_window THEN EXCLUDED.message_id ELSE k.message_id END,
            created_at = CASE WHEN k.created_at < now() - settings.dedup_window THEN now() ELSE k.created_at END
        RETURNING k.dedup_key, k.message_id
    ),
    inserted AS (
        INSERT INTO messages (id, queue, state, payload, headers, task, execution_id, priority, dedup_key, visible_at)
        SELECT c.message_id, send_batch.queue,
               CASE WHEN i.delay > '0' THEN 'delayed' ELSE 'ready' END,
               i.payload, i.header, i.task, i.execution_id, i.priority, i.dedup_key, now() + i.delay
        FROM claimed AS c
        JOIN keyed AS kd ON kd.dedup_key = c.dedup_key AND kd.new_id = c.message_id
        JOIN input AS i ON i.ord = kd.ord
        RETURNING 1
    )
    SELECT i.ord, c.message_id, (c.message_id <> kd.new_id OR i.ord <> kd.ord)
    FROM input AS i
    JOIN keyed AS kd ON kd.dedup_key = i.dedup_key
    JOIN claimed AS c ON c.dedup_key = i.dedup_key
    ORDER BY i.ord;
END
$$;

COMMENT ON FUNCTION send_batch(text, jsonb[], text[], jsonb[], text[], uuid[], smallint[], interval[], boolean) IS
    'Sends a batch: one row per payload (ord, id, duplicate); notify => false leaves waking workers to the caller. Raises MU001, MU002, MU003.';

-- send() as before: the batch send, notifying.
CREATE OR REPLACE FUNCTION send(
    queue         text,
    payloads      jsonb[],
    dedup_keys    text[],
    headers       jsonb[]    DEFAULT NULL,
    tasks         text[]     DEFAULT NULL,
    execution_ids uuid[]     DEFAULT NULL,
    priorities    smallint[] DEFAULT NULL,
    delays        interval[] DEFAULT NULL
) RETURNS TABLE (ord integer, id bigint, duplicate boolean)
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    SELECT b.ord, b.id, b.duplicate
    FROM send_batch(queue, payloads, dedup_keys, headers, tasks, execution_ids, priorities, delays, true) AS b;
END;

-- ack, archive, extend and release of 0002, each finding its rows by id (see 2. above).
CREATE OR REPLACE FUNCTION ack(queue text, ids bigint[], read_cts integer[])
RETURNS TABLE (id bigint, acked boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_leases(ids, read_cts);
    IF (queue_settings(ack.queue)).archive_on_ack THEN
        RETURN QUERY SELECT * FROM archive(queue, ids, read_cts);
        RETURN;
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct FROM unnest(ids, read_cts) AS w(id, read_ct)
    ),
    deleted AS (
        DELETE FROM messages AS m
        USING wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = ack.queue
        RETURNING m.id
    )
    SELECT w.id, d.id IS NOT NULL FROM wanted AS w LEFT JOIN deleted AS d ON d.id = w.id;
END
$$;

CREATE OR REPLACE FUNCTION archive(queue text, ids bigint[], read_cts integer[])
RETURNS TABLE (id bigint, archived boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_leases(ids, read_cts);
    PERFORM queue_settings(archive.queue);
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct FROM unnest(ids, read_cts) AS w(id, read_ct)
    ),
    moved AS (
        DELETE FROM messages AS m
        USING wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = archive.queue
        RETURNING m.*
    ),
    kept AS (
        INSERT INTO archive (id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
                             read_ct, error_ct, last_error, leased_by)
        SELECT id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
               read_ct, error_ct, last_error, leased_by
        FROM moved
        RETURNING id
    )
    SELECT w.id, k.id IS NOT NULL FROM wanted AS w LEFT JOIN kept AS k ON k.id = w.id;
END
$$;

CREATE OR REPLACE FUNCTION extend(queue text, ids bigint[], read_cts integer[], visibility_timeout interval DEFAULT NULL)
RETURNS TABLE (id bigint, extended boolean, lease_expires_at timestamptz)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    lease interval := coalesce(extend.visibility_timeout, (queue_settings(extend.queue)).visibility_timeout);
BEGIN
    PERFORM check_leases(ids, read_cts);
    IF lease < '100 milliseconds' OR lease > '12 hours' THEN
        RAISE EXCEPTION 'extend: visibility timeout must be between 100 ms and 12 h' USING ERRCODE = 'MU003';
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct FROM unnest(ids, read_cts) AS w(id, read_ct)
    ),
    updated AS (
        UPDATE messages AS m
        SET visible_at = now() + lease
        FROM wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = extend.queue
        RETURNING m.id, m.visible_at
    )
    SELECT w.id, u.id IS NOT NULL, u.visible_at FROM wanted AS w LEFT JOIN updated AS u ON u.id = w.id;
END
$$;

CREATE OR REPLACE FUNCTION release(queue text, ids bigint[], read_cts integer[], delays interval[] DEFAULT NULL, errors text[] DEFAULT NULL)
RETURNS TABLE (id bigint, released boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(ids), 0);
BEGIN
    PERFORM check_leases(ids, read_cts);
    PERFORM queue_settings(release.queue);
    IF (delays IS NOT NULL AND cardinality(delays) <> n) OR (errors IS NOT NULL AND cardinality(errors) <> n) THEN
        RAISE EXCEPTION 'release: delays and errors need one element per id' USING ERRCODE = 'MU003';
    END IF;
    IF delays IS NOT NULL AND EXISTS (SELECT FROM unnest(delays) AS d WHERE d < '0' OR d > '366 days') THEN
        RAISE EXCEPTION 'release: delays must be between 0 and 366 days' USING ERRCODE = 'MU003';
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT w.id, w.read_ct, coalesce(w.delay, '0') AS delay, w.error
        FROM unnest(ids, read_cts, coalesce(delays, array_fill(NULL::interval, ARRAY[n])),
                    coalesce(errors, array_fill(NULL::text, ARRAY[n]))) AS w(id, read_ct, delay, error)
    ),
    updated AS (
        UPDATE messages AS m
        SET state = CASE WHEN w.delay > '0' THEN 'delayed' ELSE 'ready' END,
            visible_at = now() + w.delay,
            leased_by = NULL,
            error_ct = m.error_ct + (w.error IS NOT NULL)::integer,
            last_error = coalesce(w.error, m.last_error)
        FROM wanted AS w
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = release.queue
        RETURNING m.id
    )
    SELECT w.id, u.id IS NOT NULL FROM wanted AS w LEFT JOIN updated AS u ON u.id = w.id;
END
$$;

-- requeue_dead_letters() of 0002, keeping read_ct (see 3. above).
CREATE OR REPLACE FUNCTION requeue_dead_letters(queue text, ids bigint[] DEFAULT NULL, reason text DEFAULT NULL, task text DEFAULT NULL)
RETURNS TABLE (id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    PERFORM queue_settings(requeue_dead_letters.queue);
    PERFORM pg_notify(notify_channel(queue), '');
    RETURN QUERY
    WITH revived AS (
        DELETE FROM dead_letters AS d
        WHERE d.queue = requeue_dead_letters.queue
          AND (requeue_dead_letters.ids IS NULL OR d.id = ANY (requeue_dead_letters.ids))
          AND (requeue_dead_letters.reason IS NULL OR d.reason = requeue_dead_letters.reason)
          AND (requeue_dead_letters.task IS NULL OR d.task = requeue_dead_letters.task)
        RETURNING d.*
    )
    INSERT INTO messages (id, queue, state, payload, headers, task, execution_id, priority, dedup_key, enqueued_at, visible_at,
                          read_ct, snoozes)
    SELECT id, queue, 'ready', payload, headers, task, execution_id, priority, dedup_key, enqueued_at, now(),
           read_ct, read_ct
    FROM revived
    RETURNING messages.id;
END
$$;
