-- Hot paths that plan once and look nothing up twice.
--
-- 1. Plans made once per session. PL/pgSQL plans each statement with the call's values for
--    its first five calls and then keeps a generic plan only if it is not estimated dearer.
--    read()'s statement ("LIMIT qty" over a ready index of unknown depth) never passed that
--    test: it was planned again on every call, 0.32 ms of a 0.84 ms read, and ack()'s join
--    with its id array likewise (0.13 ms a call). Every statement of the queue's hot
--    functions finds its rows by an index whatever the values (the ready index in (priority,
--    id) order, the due index, primary keys), so the functions below run with
--    plan_cache_mode = force_generic_plan: one plan per session, built on the first call.
--
-- 2. No nested lookups. read(), ack() and complete_member() read the queue's settings with
--    one indexed SELECT instead of calling queue_settings() and check_leases() (each a
--    PL/pgSQL call with its own search_path switch); queue_settings() still raises MU001
--    for an unknown queue. read() no longer visits every chosen row twice to find poisoned
--    ones: the rows it picks carry their attempts, and only rows at max_attempts are looked
--    up for the move to dead_letters.
--
-- 3. One message, one statement. send_message() sends a single message without arrays,
--    DISTINCT ON or joins: the dedup ledger's row and the message, in one statement. The
--    single-message send() of 0002 (psql, triggers, fire_barrier()) now calls it.
--
-- 4. One member completion, one statement. complete_member() acks the member's message
--    (fenced), records the member and decrements its barrier in one statement, in the lock
--    order every completion uses (message, member row, barrier row); firing stays in
--    fire_barrier(). Queues that archive on ack keep 0004's path.

-- The single-message send. Returns the message id and duplicate = true when the key is
-- already known within the queue's dedup window (nothing is enqueued then). Concurrent sends
-- of one key yield one message, as with send_batch(). notify => false leaves waking workers
-- to the caller (the Swift client notifies after its commit). Raises MU001, MU002, MU003.
CREATE FUNCTION send_message(
    queue        text,
    payload      jsonb,
    dedup_key    text,
    headers      jsonb    DEFAULT NULL,
    task         text     DEFAULT NULL,
    execution_id uuid     DEFAULT NULL,
    priority     smallint DEFAULT 0,
    delay        interval DEFAULT '0',
    notify       boolean  DEFAULT true
) RETURNS TABLE (id bigint, duplicate boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    wait     interval := coalesce(send_message.delay, '0');
    keep_for  interval;
    max_bytes integer;
    new_id    bigint;
BEGIN
    IF payload IS NULL OR dedup_key IS NULL THEN
        RAISE EXCEPTION 'send: payloads and dedup keys must not be NULL' USING ERRCODE = 'MU003';
    END IF;
    IF wait < '0' OR wait > '366 days' THEN
        RAISE EXCEPTION 'send: delays must be between 0 and 366 days' USING ERRCODE = 'MU003';
    END IF;
    SELECT q.dedup_window, q.max_payload_bytes INTO keep_for, max_bytes FROM queues AS q WHERE q.name = send_message.queue;
    IF NOT FOUND THEN
        PERFORM queue_settings(send_message.queue);
    END IF;
    IF octet_length(payload::text) > max_bytes THEN
        RAISE EXCEPTION 'payload of % bytes exceeds the limit of % bytes of queue %', octet_length(payload::text), max_bytes, queue
            USING ERRCODE = 'MU002';
    END IF;
    IF notify AND wait = '0' THEN
        PERFORM pg_notify(notify_channel(queue), '');
    END IF;
    new_id := nextval('messages_id_seq');

    RETURN QUERY
    WITH claimed AS (
        INSERT INTO message_keys AS k (queue, dedup_key, message_id)
        VALUES (send_message.queue, send_message.dedup_key, new_id)
        ON CONFLICT (queue, dedup_key) DO UPDATE
        SET message_id = CASE WHEN k.created_at < now() - keep_for THEN EXCLUDED.message_id ELSE k.message_id END,
            created_at = CASE WHEN k.created_at < now() - keep_for THEN now() ELSE k.created_at END
        RETURNING k.message_id
    ),
    inserted AS (
        INSERT INTO messages (id, queue, state, payload, headers, task, execution_id, priority, dedup_key, visible_at)
        SELECT c.message_id, send_message.queue, CASE WHEN wait > '0' THEN 'delayed' ELSE 'ready' END,
               send_message.payload, send_message.headers, send_message.task, send_message.execution_id,
               coalesce(send_message.priority, 0::smallint), send_message.dedup_key, now() + wait
        FROM claimed AS c
        WHERE c.message_id = new_id
    )
    SELECT c.message_id, c.message_id <> new_id FROM claimed AS c;
END
$$;

COMMENT ON FUNCTION send_message(text, jsonb, text, jsonb, text, uuid, smallint, interval, boolean) IS
    'Sends one message in one statement: (id, duplicate). notify => false leaves waking workers to the caller. Raises MU001, MU002, MU003.';

-- The single-message send of 0002, through send_message() (notifying).
CREATE OR REPLACE FUNCTION send(
    queue        text,
    payload      jsonb,
    dedup_key    text     DEFAULT NULL,
    headers      jsonb    DEFAULT NULL,
    task         text     DEFAULT NULL,
    execution_id uuid     DEFAULT NULL,
    priority     smallint DEFAULT 0,
    delay        interval DEFAULT '0'
) RETURNS bigint
LANGUAGE sql SET search_path FROM CURRENT
RETURN (
    SELECT s.id
    FROM send_message(queue, payload, coalesce(dedup_key, gen_random_uuid()::text), headers, task, execution_id,
                      priority, delay, true) AS s
);

-- read() of 0007: the same leases, poison check and result, planned once (see 1. and 2.).
CREATE OR REPLACE FUNCTION read(queue text, qty integer, visibility_timeout interval DEFAULT NULL, worker text DEFAULT NULL)
RETURNS TABLE (
    id bigint, read_ct integer, payload jsonb, headers jsonb, task text, execution_id uuid, priority smallint,
    enqueued_at timestamptz, lease_expires_at timestamptz, error_ct integer, last_error text, attempt integer
)
LANGUAGE plpgsql SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    lease        interval;
    max_attempts integer;
    paused       boolean;
BEGIN
    SELECT coalesce(read.visibility_timeout, q.visibility_timeout), q.max_attempts, q.paused
    INTO lease, max_attempts, paused
    FROM queues AS q WHERE q.name = read.queue;
    IF NOT FOUND THEN
        PERFORM queue_settings(read.queue);
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
    WITH ready AS (
        SELECT m.id, m.priority, m.read_ct - m.snoozes AS attempts FROM messages AS m
        WHERE m.queue = read.queue AND m.state = 'ready'
        ORDER BY m.priority, m.id
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    due AS (
        SELECT m.id, m.priority, m.read_ct - m.snoozes AS attempts FROM messages AS m
        WHERE m.queue = read.queue AND m.state <> 'ready' AND m.visible_at <= now()
        ORDER BY m.visible_at
        LIMIT qty
        FOR UPDATE SKIP LOCKED
    ),
    chosen AS (
        SELECT c.id, c.attempts FROM (SELECT * FROM ready UNION ALL SELECT * FROM due) AS c
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
            visible_at = now() + lease, leased_by = read.worker
        FROM chosen AS c
        WHERE c.attempts < max_attempts AND m.id = c.id
        RETURNING m.id, m.read_ct, m.payload, m.headers, m.task, m.execution_id, m.priority, m.enqueued_at,
                  m.visible_at, m.error_ct, m.last_error, m.read_ct - m.snoozes
    )
    SELECT * FROM leased ORDER BY priority, id;
END
$$;

-- ack() of 0008: the same fenced delete by primary key, planned once, no nested calls.
CREATE OR REPLACE FUNCTION ack(queue text, ids bigint[], read_cts integer[])
RETURNS TABLE (id bigint, acked boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    archiving boolean;
BEGIN
    IF ids IS NULL OR read_cts IS NULL OR cardinality(ids) <> cardinality(read_cts) THEN
        RAISE EXCEPTION 'ids and read counts must be arrays of the same length' USING ERRCODE = 'MU003';
    END IF;
    SELECT q.archive_on_ack INTO archiving FROM queues AS q WHERE q.name = ack.queue;
    IF NOT FOUND THEN
        PERFORM queue_settings(ack.queue);
    END IF;
    IF archiving THEN
        RETURN QUERY SELECT * FROM archive(queue, ids, read_cts);
        RETURN;
    END IF;
    RETURN QUERY
    WITH deleted AS (
        DELETE FROM messages AS m
        USING unnest(ids, read_cts) AS w(id, read_ct)
        WHERE m.id = w.id AND m.read_ct = w.read_ct AND (m.state = 'leased') IS TRUE AND m.queue = ack.queue
        RETURNING m.id
    )
    SELECT w.id, d.id IS NOT NULL FROM unnest(ids) AS w(id) LEFT JOIN deleted AS d ON d.id = w.id;
END
$$;

-- complete_member() of 0004 in one statement (see 4.): the same results, the same guarantees
-- (a lost lease records nothing; a member counts once; the completion that brings the
-- barrier to zero, or the first failure under fail_fast, fires it).
CREATE OR REPLACE FUNCTION complete_member(
    queue      text,
    message_id bigint,
    read_ct    integer,
    barrier_id bigint,
    member_key text,
    succeeded  boolean,
    result     jsonb DEFAULT NULL,
    error      text  DEFAULT NULL
) RETURNS TABLE (applied boolean, counted boolean, remaining integer, fired boolean, callback_message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    archiving boolean;
    outcome   record;
    message   bigint;
BEGIN
    SELECT q.archive_on_ack INTO archiving FROM queues AS q WHERE q.name = complete_member.queue;
    IF NOT FOUND OR archiving THEN
        IF NOT (SELECT a.acked FROM ack(queue, ARRAY[message_id], ARRAY[read_ct]) AS a) THEN
            RETURN QUERY SELECT false, false, NULL::integer, false, NULL::bigint;
            RETURN;
        END IF;
        RETURN QUERY SELECT true, r.* FROM record_member(barrier_id, member_key, message_id, succeeded, result, error) AS r;
        RETURN;
    END IF;

    WITH acked AS (
        DELETE FROM messages AS m
        WHERE m.id = complete_member.message_id AND m.read_ct = complete_member.read_ct
          AND (m.state = 'leased') IS TRUE AND m.queue = complete_member.queue
        RETURNING m.id
    ),
    moved AS (
        UPDATE barrier_members AS bm
        SET status = CASE WHEN succeeded THEN 'succeeded' ELSE 'failed' END,
            result = complete_member.result, error = complete_member.error, completed_at = now()
        WHERE bm.barrier_id = complete_member.barrier_id AND bm.member_key = complete_member.member_key
          AND bm.message_id = complete_member.message_id AND bm.status = 'pending'
          AND EXISTS (SELECT FROM acked)
        RETURNING bm.barrier_id
    ),
    counted AS (
        UPDATE barriers AS x
        SET remaining = x.remaining - 1, failed = x.failed + (NOT succeeded)::integer, last_completed_at = now()
        WHERE x.id = complete_member.barrier_id AND EXISTS (SELECT FROM moved)
        RETURNING x.*
    )
    SELECT EXISTS (SELECT FROM acked) AS acked, c.id, c.status, c.remaining, c.on_failure, c.execution_id, c.name
    INTO outcome
    FROM (SELECT) AS one LEFT JOIN counted AS c ON true;

    IF NOT outcome.acked THEN
        RETURN QUERY SELECT false, false, NULL::integer, false, NULL::bigint;
        RETURN;
    END IF;
    IF outcome.id IS NULL THEN
        RETURN QUERY SELECT true, false, NULL::integer, false, NULL::bigint;
        RETURN;
    END IF;
    IF outcome.status = 'armed' AND NOT succeeded AND outcome.on_failure = 'fail_fast' THEN
        message := fire_barrier(outcome.id, 'failed');
        PERFORM fail_execution(outcome.execution_id,
            format('member %s of barrier %s failed: %s', complete_member.member_key, outcome.name,
                   coalesce(complete_member.error, 'no error recorded')));
    ELSIF outcome.status = 'armed' AND outcome.remaining = 0 THEN
        message := fire_barrier(outcome.id, 'fired');
    END IF;
    RETURN QUERY SELECT true, true, outcome.remaining::integer, message IS NOT NULL, message;
END
$$;

-- The other fenced and batch functions keep their statements and plan them once (see 1.).
ALTER FUNCTION send_batch(text, jsonb[], text[], jsonb[], text[], uuid[], smallint[], interval[], boolean)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION archive(text, bigint[], integer[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION extend(text, bigint[], integer[], interval) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION release(text, bigint[], integer[], interval[], text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION snooze(text, bigint[], integer[], interval[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION dead_letter(text, bigint[], integer[], text[], text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION complete_members(text, bigint[], integer[], bigint[], text[], jsonb[]) SET plan_cache_mode = force_generic_plan;
