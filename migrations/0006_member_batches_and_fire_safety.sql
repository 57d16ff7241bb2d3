-- Group-committed member completions, and two guards that keep a barrier's firing from
-- failing after its members are done.
--
-- complete_member() (0004) takes the barrier's row lock once per member: the completions of
-- one barrier queue up behind each other, which caps a fan-in at one commit per member. A
-- worker that finishes many members at once completes them here in one statement: one
-- fenced ack of all their messages, one update of their member rows, and one decrement per
-- barrier (barrier rows locked in id order, so concurrent batches cannot deadlock). The
-- guarantees are complete_member()'s: only members whose message this caller still holds
-- are counted, each member once, and the completion that brings a barrier to zero enqueues
-- its callback, once.

CREATE FUNCTION complete_members(
    queue       text,
    message_ids bigint[],
    read_cts    integer[],
    barrier_ids bigint[],
    member_keys text[],
    results     jsonb[]
) RETURNS TABLE (ord integer, applied boolean, counted boolean, remaining integer, fired boolean, callback_message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    n           integer := coalesce(cardinality(message_ids), 0);
    acked_ids   bigint[];
    counted_ord bigint[];
    counted_bid bigint[];
    fired_ord   bigint[] := '{}';
    b           barriers;
    barrier     bigint;
BEGIN
    PERFORM check_leases(message_ids, read_cts);
    IF cardinality(barrier_ids) IS DISTINCT FROM n OR cardinality(member_keys) IS DISTINCT FROM n
       OR cardinality(results) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'complete_members: one barrier id, member key and result per message' USING ERRCODE = 'MU003';
    END IF;

    -- 1. The fenced ack of every message: a lease lost to another reader acks (and counts) nothing.
    SELECT array_agg(a.id) FILTER (WHERE a.acked) INTO acked_ids FROM ack(queue, message_ids, read_cts) AS a;

    -- 2. Their members leave pending, once; a member must be the one sent as its message.
    WITH input AS (
        SELECT i.* FROM unnest(message_ids, barrier_ids, member_keys, results) WITH ORDINALITY
                        AS i(message_id, barrier_id, member_key, result, ord)
        WHERE i.message_id = ANY (acked_ids)
    ),
    moved AS (
        UPDATE barrier_members AS m
        SET status = 'succeeded', result = i.result, completed_at = now()
        FROM input AS i
        WHERE m.barrier_id = i.barrier_id AND m.member_key = i.member_key AND m.message_id = i.message_id
          AND m.status = 'pending'
        RETURNING i.ord, i.barrier_id
    )
    SELECT array_agg(x.ord ORDER BY x.ord), array_agg(x.barrier_id ORDER BY x.ord) INTO counted_ord, counted_bid FROM moved AS x;

    -- 3. One decrement per barrier, in barrier id order; the one that reaches zero fires.
    FOR barrier IN SELECT DISTINCT u.id FROM unnest(counted_bid) AS u(id) ORDER BY u.id LOOP
        UPDATE barriers AS x
        SET remaining = x.remaining - (SELECT count(*) FROM unnest(counted_bid) AS u(id) WHERE u.id = barrier),
            last_completed_at = now()
        WHERE x.id = barrier
        RETURNING x.* INTO b;
        IF b.status = 'armed' AND b.remaining = 0 THEN
            PERFORM fire_barrier(b.id, 'fired');
            -- The callback is reported on the barrier's last member in this batch.
            fired_ord := fired_ord || (SELECT max(c.ord) FROM unnest(counted_ord, counted_bid) AS c(ord, id) WHERE c.id = barrier);
        END IF;
    END LOOP;

    RETURN QUERY
    SELECT i.ord::integer,
           i.message_id = ANY (coalesce(acked_ids, '{}')),
           i.ord = ANY (coalesce(counted_ord, '{}')),
           CASE WHEN i.ord = ANY (coalesce(counted_ord, '{}')) THEN x.remaining END,
           i.ord = ANY (fired_ord),
           CASE WHEN i.ord = ANY (fired_ord) THEN x.callback_message_id END
    FROM unnest(message_ids, barrier_ids) WITH ORDINALITY AS i(message_id, barrier_id, ord)
    LEFT JOIN barriers AS x ON x.id = i.barrier_id
    ORDER BY i.ord;
END
$$;

COMMENT ON FUNCTION complete_members(text, bigint[], integer[], bigint[], text[], jsonb[]) IS
    'Completes succeeded barrier members in one statement: fenced ack of their messages, member records, one decrement per barrier (locked in id order), callbacks enqueued once. One row per input (ord is 1-based).';

-- A barrier's callback message is sent when the barrier fires, inside its last member's
-- completion. A callback payload over the queue's limit would make that completion fail on
-- every delivery and leave the execution hanging; refuse it when the barrier is armed
-- instead (MU002, nothing written), where the caller can still fail cleanly.
CREATE FUNCTION check_callback_payload() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    size  integer := octet_length(NEW.callback_payload::text);
    limit_bytes integer := (queue_settings(NEW.callback_queue)).max_payload_bytes;
BEGIN
    IF size > limit_bytes THEN
        RAISE EXCEPTION 'callback payload of barrier % is % bytes and exceeds the limit of % bytes of queue %',
            NEW.name, size, limit_bytes, NEW.callback_queue USING ERRCODE = 'MU002';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION check_callback_payload() IS 'Trigger: refuses a barrier whose callback payload its callback queue would refuse when the barrier fires (MU002).';

CREATE TRIGGER barriers_check_callback_payload
BEFORE INSERT ON barriers
FOR EACH ROW EXECUTE FUNCTION check_callback_payload();

-- Dead letters settle their executions once per statement, not per row. 0004's row trigger
-- counted a statement's dead-lettered members in row order, locking their barriers in any
-- order; complete_members() locks barriers in id order, so the two could deadlock. This one
-- visits members in barrier id order (then the other messages), the order every batch uses.
-- Each row is still confined to its own subtransaction: a failure never undoes the
-- dead-letter move. A member that cannot be counted fails its execution instead, so a dead
-- letter never leaves an execution running with nothing left to move it; but a deadlock or
-- serialization failure is re-raised, so the statement is retried rather than an execution
-- failed for contention.
DROP TRIGGER dead_letters_settle_execution ON dead_letters;
DROP FUNCTION dead_letter_settles_execution();

CREATE FUNCTION dead_letters_settle_executions() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    d   record;
    why text;
BEGIN
    FOR d IN
        SELECT n.*,
               CASE WHEN n.headers ? 'muster-member' AND n.headers ->> 'muster-barrier' ~ '^[0-9]{1,18}$'
                    THEN (n.headers ->> 'muster-barrier')::bigint END AS barrier
        FROM inserted AS n
        WHERE n.execution_id IS NOT NULL
        ORDER BY barrier NULLS LAST, n.id
    LOOP
        why := format('message %s (%s) dead-lettered: %s: %s', d.id, coalesce(d.task, 'no task'), d.reason,
                      coalesce(d.last_error, 'no error recorded'));
        BEGIN
            IF d.barrier IS NOT NULL THEN
                PERFORM record_member(d.barrier, d.headers ->> 'muster-member', d.id, false, NULL, why);
            ELSE
                PERFORM fail_execution(d.execution_id, why);
            END IF;
        EXCEPTION
            WHEN deadlock_detected OR serialization_failure OR lock_not_available THEN
                RAISE;
            WHEN OTHERS THEN
                BEGIN
                    PERFORM fail_execution(d.execution_id, why || format(' (and counting it failed: %s)', SQLERRM));
                EXCEPTION
                    WHEN deadlock_detected OR serialization_failure OR lock_not_available THEN
                        RAISE;
                    WHEN OTHERS THEN
                        RAISE WARNING 'muster: could not settle execution % for dead letter %: %', d.execution_id, d.id, SQLERRM;
                END;
        END;
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION dead_letters_settle_executions() IS 'Statement trigger: dead-lettered members count as failed (visited in barrier id order); any other dead-lettered message of an execution fails it.';

CREATE TRIGGER dead_letters_settle_executions
AFTER INSERT ON dead_letters
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT
EXECUTE FUNCTION dead_letters_settle_executions();

-- Barriers of a canceled execution are canceled with it: a canceled barrier never fires, so
-- no callback runs for an execution that was stopped.
ALTER TABLE barriers DROP CONSTRAINT barriers_status_check;
ALTER TABLE barriers ADD CONSTRAINT barriers_status_check CHECK (status IN ('armed', 'fired', 'failed', 'expired', 'canceled'));
COMMENT ON COLUMN barriers.status IS 'armed: counting; fired: all members done, callback enqueued; failed: fail_fast tripped, callback enqueued; expired: the reaper gave up at the deadline; canceled: its execution was canceled, it never fires.';

-- Cancels an open execution: its status becomes canceled (with the reason as its error), its
-- armed barriers are canceled (they never fire), and its messages are deleted, also those a
-- worker is running: that worker's next heartbeat finds the lease gone and cancels the
-- handler, and its result is not acked or counted. A message locked at this instant by a
-- concurrent statement is skipped (waiting for it could deadlock with a read that dead-letters
-- it); it may still run once, and leads nowhere. Returns canceled = false, and changes
-- nothing, when the execution was already terminal; raises MU005 for an unknown id.
CREATE FUNCTION cancel_execution(id uuid, reason text DEFAULT NULL)
RETURNS TABLE (canceled boolean, messages_removed bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    current text;
    removed bigint;
BEGIN
    -- Barriers before the execution, in id order: the lock order of every other path
    -- (member completions, finalize + continuation, fail-fast, the reaper).
    PERFORM 1 FROM barriers AS b WHERE b.execution_id = cancel_execution.id AND b.status = 'armed' ORDER BY b.id FOR UPDATE;
    SELECT e.status INTO current FROM executions AS e WHERE e.id = cancel_execution.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', id USING ERRCODE = 'MU005';
    END IF;
    IF current NOT IN ('pending', 'running') THEN
        RETURN QUERY SELECT false, 0::bigint;
        RETURN;
    END IF;
    UPDATE executions AS e SET status = 'canceled', error = coalesce(reason, 'canceled'), updated_at = now()
    WHERE e.id = cancel_execution.id;
    UPDATE barriers AS b SET status = 'canceled' WHERE b.execution_id = cancel_execution.id AND b.status = 'armed';
    DELETE FROM messages AS m WHERE m.id IN (
        SELECT x.id FROM messages AS x WHERE x.execution_id = cancel_execution.id FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT true, removed;
END
$$;

COMMENT ON FUNCTION cancel_execution(uuid, text) IS 'Cancels an open execution, its armed barriers and its messages (running ones too); (false, 0) when it was already terminal; MU005 when unknown.';

-- Retention for executions: terminal executions finished more than `retention` ago, with
-- their barriers and members, at most batch_size per call. Run by the reaper's leader, fenced
-- like reap() (NULL when the caller does not lead). Only executions nothing points at any
-- more are deleted: no message of theirs waiting or running and no dead letter (those go with
-- their queue's retention first), because a redelivered orchestration message of a deleted
-- execution would find neither it nor, later, its tombstone, and run again.
CREATE FUNCTION sweep_executions(holder text, token bigint, retention interval, batch_size integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    doomed uuid[];
BEGIN
    PERFORM 1 FROM leader_leases AS l
    WHERE l.name = 'reaper' AND l.holder = sweep_executions.holder AND l.token = sweep_executions.token
      AND l.expires_at > now()
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(x.id) INTO doomed FROM (
        SELECT e.id FROM executions AS e
        WHERE e.status IN ('completed', 'failed', 'canceled')
          AND e.created_at < now() - retention          -- bounds the scan (executions_created)
          AND e.finished_at < now() - retention
          AND NOT EXISTS (SELECT FROM messages AS m WHERE m.execution_id = e.id)
          AND NOT EXISTS (SELECT FROM dead_letters AS d WHERE d.execution_id = e.id)
        ORDER BY e.created_at
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    ) AS x;
    IF doomed IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM barrier_members AS bm USING barriers AS b WHERE bm.barrier_id = b.id AND b.execution_id = ANY (doomed);
    DELETE FROM barriers AS b WHERE b.execution_id = ANY (doomed);
    DELETE FROM executions AS e WHERE e.id = ANY (doomed);
    RETURN cardinality(doomed);
END
$$;

COMMENT ON FUNCTION sweep_executions(text, bigint, interval, integer) IS 'Leader-only: deletes terminal executions past retention (with their barriers and members) that no message or dead letter points at; returns how many, NULL when the caller does not lead.';

COMMENT ON TABLE workers IS 'One row per running Worker (a process runs one per queue it consumes; id = <process worker id>/<queue>), refreshed by its heartbeat. A row whose heartbeat is old belongs to a dead process; its leases expire on their own.';
COMMENT ON COLUMN workers.id IS 'The worker id, as written to messages.leased_by (host:pid:random/queue).';
