-- One way to end an execution early, with one result. cancel_execution (0006) canceled the
-- execution's armed barriers and removed its messages; transition_execution(id, 'canceled'
-- or 'failed') and a fail_execution called from SQL only changed the status, leaving the
-- barrier armed and its members queued to run for nothing. All three now go through
-- end_execution. fail_execution keeps its old effect when another function calls it (the
-- fail-fast, dead-letter and deadline paths settle their own barrier and must never raise).

-- Ends an open execution as `status` ('canceled' or 'failed') with `reason` as its error:
-- its armed barriers are canceled (they never fire), and its messages are deleted, also
-- those a worker is running (that worker's next heartbeat finds the lease gone and cancels
-- the handler; its result is not acked or counted), callbacks of fired barriers too (they
-- would continue a pipeline that has ended). A message locked at this instant by a
-- concurrent statement is skipped (waiting for it could deadlock with a read that dead-letters it); it may still run
-- once, and leads nowhere. Returns ended = false, and changes nothing, when the execution
-- was already terminal; raises MU005 for an unknown id.
CREATE FUNCTION end_execution(id uuid, status text, reason text)
RETURNS TABLE (ended boolean, messages_removed bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    current text;
    removed bigint;
BEGIN
    IF status IS NULL OR status NOT IN ('canceled', 'failed') THEN
        RAISE EXCEPTION 'an execution ends early as canceled or failed, not %', coalesce(status, 'NULL') USING ERRCODE = 'MU003';
    END IF;
    -- Barriers before the execution, in id order: the lock order of every other path
    -- (member completions, finalize + continuation, fail-fast, the reaper).
    PERFORM 1 FROM barriers AS b WHERE b.execution_id = end_execution.id AND b.status = 'armed' ORDER BY b.id FOR UPDATE;
    SELECT e.status INTO current FROM executions AS e WHERE e.id = end_execution.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', id USING ERRCODE = 'MU005';
    END IF;
    IF current NOT IN ('pending', 'running') THEN
        RETURN QUERY SELECT false, 0::bigint;
        RETURN;
    END IF;
    UPDATE executions AS e SET status = end_execution.status, error = coalesce(reason, end_execution.status), updated_at = now()
    WHERE e.id = end_execution.id;
    UPDATE barriers AS b SET status = 'canceled' WHERE b.execution_id = end_execution.id AND b.status = 'armed';
    DELETE FROM messages AS m WHERE m.id IN (
        SELECT x.id FROM messages AS x WHERE x.execution_id = end_execution.id FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN QUERY SELECT true, removed;
END
$$;

COMMENT ON FUNCTION end_execution(uuid, text, text) IS 'Ends an open execution as canceled or failed: cancels its armed barriers and deletes its messages (running ones too); (false, 0) when already terminal; MU005 when unknown.';

CREATE OR REPLACE FUNCTION cancel_execution(id uuid, reason text DEFAULT NULL)
RETURNS TABLE (canceled boolean, messages_removed bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RETURN QUERY SELECT x.ended, x.messages_removed FROM end_execution(id, 'canceled', coalesce(reason, 'canceled')) AS x;
END
$$;

-- Moves an execution to `status`, optionally setting stage, output and error. Ending it early
-- (canceled or failed) goes through end_execution: its barriers and messages are cleaned up
-- as cancel_execution does. Raises MU005 for an unknown id, MU004 for an illegal transition.
CREATE OR REPLACE FUNCTION transition_execution(id uuid, status text, stage text DEFAULT NULL, output jsonb DEFAULT NULL, error text DEFAULT NULL)
RETURNS executions
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    current text;
    row executions;
BEGIN
    IF transition_execution.status IN ('canceled', 'failed') THEN
        SELECT e.status INTO current FROM executions AS e WHERE e.id = transition_execution.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'execution % does not exist', id USING ERRCODE = 'MU005';
        END IF;
        IF NOT execution_transition_allowed(current, transition_execution.status) THEN
            RAISE EXCEPTION 'execution % cannot go from % to %', id, current, transition_execution.status USING ERRCODE = 'MU004';
        END IF;
        PERFORM end_execution(transition_execution.id, transition_execution.status, transition_execution.error);
    END IF;
    UPDATE executions AS e
    SET status = transition_execution.status,
        stage = coalesce(transition_execution.stage, e.stage),
        output = coalesce(transition_execution.output, e.output),
        error = coalesce(transition_execution.error, e.error),
        updated_at = now()
    WHERE e.id = transition_execution.id
    RETURNING e.* INTO row;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', id USING ERRCODE = 'MU005';
    END IF;
    RETURN row;
END
$$;

COMMENT ON FUNCTION transition_execution(uuid, text, text, jsonb, text) IS 'Moves an execution to a new status (MU004 when illegal, MU005 when unknown); canceled or failed clean up like cancel_execution.';

-- Fails an execution unless it is already terminal. Called by another function (fail-fast
-- barriers, dead-lettered messages, the reaper: each settles its own barrier, and none may
-- raise), it only changes the status. Called from SQL by a person or program, it ends the
-- execution like cancel_execution (end_execution), and returns false for an unknown id.
CREATE OR REPLACE FUNCTION fail_execution(id uuid, error text) RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    stack text;
BEGIN
    GET DIAGNOSTICS stack = PG_CONTEXT;
    IF position(E'\n' IN stack) = 0 THEN
        -- The only frame is this function's: a client called it.
        IF NOT EXISTS (SELECT FROM executions AS e WHERE e.id = fail_execution.id) THEN
            RETURN false;
        END IF;
        RETURN (SELECT x.ended FROM end_execution(fail_execution.id, 'failed', fail_execution.error) AS x);
    END IF;
    UPDATE executions AS e SET status = 'failed', error = fail_execution.error, updated_at = now()
    WHERE e.id = fail_execution.id AND e.status IN ('pending', 'running');
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION fail_execution(uuid, text) IS 'Fails a pending or running execution; false (and nothing changed) when unknown or terminal. Called from SQL it cleans up like cancel_execution; called by Muster''s functions it only sets the status.';

-- Arguments that broke a table's constraint deep inside a function (a raw 23502 or 23514
-- naming a column) are refused up front with Muster's own MU003 and a message that names
-- the argument. Found by the seeded SQL fuzz test (IntegrationTests/SQLFuzzTests.swift).

CREATE OR REPLACE FUNCTION worker_heartbeat(id text, host text, pid integer, queues text[], concurrency integer, in_flight integer)
RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF nullif(id, '') IS NULL OR nullif(host, '') IS NULL THEN
        RAISE EXCEPTION 'a worker heartbeat needs a worker id and a host' USING ERRCODE = 'MU003';
    END IF;
    IF pid IS NULL OR pid < 0 THEN
        RAISE EXCEPTION 'worker pid must be 0 or more' USING ERRCODE = 'MU003';
    END IF;
    IF queues IS NULL OR cardinality(queues) = 0 OR array_position(queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a worker heartbeat names at least one queue, and no NULL' USING ERRCODE = 'MU003';
    END IF;
    IF concurrency IS NULL OR concurrency < 1 OR in_flight IS NULL OR in_flight < 0 THEN
        RAISE EXCEPTION 'worker concurrency must be 1 or more and in_flight 0 or more' USING ERRCODE = 'MU003';
    END IF;
    INSERT INTO workers AS w (id, host, pid, queues, concurrency, in_flight)
    VALUES (worker_heartbeat.id, worker_heartbeat.host, worker_heartbeat.pid, worker_heartbeat.queues,
            worker_heartbeat.concurrency, worker_heartbeat.in_flight)
    ON CONFLICT ON CONSTRAINT workers_pkey DO UPDATE
    SET in_flight = EXCLUDED.in_flight, queues = EXCLUDED.queues, last_heartbeat_at = now(), stopped_at = NULL;
END
$$;

COMMENT ON FUNCTION worker_heartbeat(text, text, integer, text[], integer, integer) IS 'Upserts a worker''s row and refreshes its heartbeat (MU003 for a missing id, host or queue, or a negative count).';

CREATE OR REPLACE FUNCTION acquire_leadership(name text, holder text, ttl interval)
RETURNS TABLE (leader boolean, token bigint, held_by text, expires_at timestamptz)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    l leader_leases;
BEGIN
    IF nullif(acquire_leadership.name, '') IS NULL OR nullif(acquire_leadership.holder, '') IS NULL THEN
        RAISE EXCEPTION 'a leader lease needs a name and a holder' USING ERRCODE = 'MU003';
    END IF;
    IF ttl IS NULL OR ttl < '100 milliseconds' OR ttl > '1 hour' THEN
        RAISE EXCEPTION 'leader lease ttl must be between 100 ms and 1 hour' USING ERRCODE = 'MU003';
    END IF;
    INSERT INTO leader_leases AS x (name, holder, token, expires_at)
    VALUES (acquire_leadership.name, acquire_leadership.holder, 1, now() + ttl)
    ON CONFLICT ON CONSTRAINT leader_leases_pkey DO UPDATE
    SET token = CASE WHEN x.holder = EXCLUDED.holder THEN x.token ELSE x.token + 1 END,
        acquired_at = CASE WHEN x.holder = EXCLUDED.holder THEN x.acquired_at ELSE now() END,
        holder = EXCLUDED.holder, renewed_at = now(), expires_at = EXCLUDED.expires_at
    WHERE x.holder = EXCLUDED.holder OR x.expires_at <= now()
    RETURNING x.* INTO l;
    IF FOUND THEN
        RETURN QUERY SELECT true, l.token, l.holder, l.expires_at;
        RETURN;
    END IF;
    RETURN QUERY SELECT false, x.token, x.holder, x.expires_at FROM leader_leases AS x WHERE x.name = acquire_leadership.name;
END
$$;

COMMENT ON FUNCTION acquire_leadership(text, text, interval) IS 'Takes or renews a leader lease; leader = false names the current leader (MU003 for a missing name or holder, or a ttl outside 100 ms-1 h).';

CREATE OR REPLACE FUNCTION fire_barrier(barrier_id bigint, outcome text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    b       barriers;
    message bigint;
BEGIN
    IF outcome IS NULL OR outcome NOT IN ('fired', 'failed') THEN
        RAISE EXCEPTION 'a barrier fires with outcome fired or failed, not %', coalesce(outcome, 'NULL') USING ERRCODE = 'MU003';
    END IF;
    SELECT * INTO b FROM barriers WHERE id = fire_barrier.barrier_id AND status = 'armed' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    message := send(b.callback_queue, b.callback_payload, 'muster:callback:' || b.id,
                    jsonb_build_object('muster-barrier', b.id::text, 'muster-callback', b.name),
                    b.callback_task, b.execution_id);
    UPDATE barriers SET status = outcome, fired_at = now(), callback_message_id = message WHERE id = b.id;
    RETURN message;
END
$$;

COMMENT ON FUNCTION fire_barrier(bigint, text) IS 'Enqueues an armed barrier''s callback and sets its status (fired or failed, else MU003); does nothing for a barrier that already fired.';

CREATE OR REPLACE FUNCTION try_claim(execution_id uuid, name text, holder text, ttl interval)
RETURNS TABLE (outcome text, token bigint, held_by text, expires_at timestamptz)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    c claims;
BEGIN
    IF ttl IS NULL OR ttl < '100 milliseconds' OR ttl > '1 day' THEN
        RAISE EXCEPTION 'claim ttl must be between 100 ms and 1 day' USING ERRCODE = 'MU003';
    END IF;
    IF holder IS NULL OR name IS NULL OR name !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
        RAISE EXCEPTION 'claim name must be 1-100 letters, digits, _ . : or -, and holder non-NULL' USING ERRCODE = 'MU003';
    END IF;
    IF execution_id IS NULL THEN
        RAISE EXCEPTION 'a claim belongs to an execution: execution_id must not be NULL' USING ERRCODE = 'MU003';
    END IF;
    IF EXISTS (SELECT FROM executions AS e WHERE e.id = try_claim.execution_id AND e.status IN ('completed', 'failed', 'canceled')) THEN
        RETURN QUERY SELECT 'finished', NULL::bigint, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    -- Re-entrant per holder: a repeat after an ambiguous commit wins again with the same token.
    INSERT INTO claims AS x (execution_id, name, holder, token, state, expires_at)
    VALUES (try_claim.execution_id, try_claim.name, try_claim.holder, 1, 'held', now() + ttl)
    ON CONFLICT ON CONSTRAINT claims_pkey DO UPDATE
    SET token = CASE WHEN x.holder = EXCLUDED.holder THEN x.token ELSE x.token + 1 END,
        claimed_at = CASE WHEN x.holder = EXCLUDED.holder THEN x.claimed_at ELSE now() END,
        holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE x.state = 'held' AND (x.expires_at <= now() OR x.holder = EXCLUDED.holder)
    RETURNING x.* INTO c;
    IF FOUND THEN
        RETURN QUERY SELECT 'won', c.token, c.holder, c.expires_at;
        RETURN;
    END IF;
    SELECT * INTO c FROM claims AS x WHERE x.execution_id = try_claim.execution_id AND x.name = try_claim.name;
    RETURN QUERY SELECT CASE WHEN c.state = 'finished' THEN 'finished' ELSE 'held_by_other' END, c.token, c.holder, c.expires_at;
END
$$;

COMMENT ON FUNCTION try_claim(uuid, text, text, interval) IS 'Takes a claim (won), or reports held_by_other or finished. An expired claim is taken over with a new token. MU003 for a NULL execution, holder or bad name.';

-- The reaper's sweeps check their batch size and retention up front: a negative batch made
-- LIMIT fail deep inside, a retention of a million years overflowed a timestamp. Their
-- bodies are 0002's, 0004's and 0006's with one PERFORM added at the top.

-- MU003 unless batch_size is 1 to 1,000,000 and retention (when given) 0 to 1,000 years.
CREATE FUNCTION check_sweep_arguments(batch_size integer, retention interval DEFAULT '0') RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'batch size must be between 1 and 1000000, not %', coalesce(batch_size::text, 'NULL') USING ERRCODE = 'MU003';
    END IF;
    IF retention IS NULL OR retention < '0' OR retention > '1000 years' THEN
        RAISE EXCEPTION 'retention must be between 0 and 1000 years, not %', coalesce(retention::text, 'NULL') USING ERRCODE = 'MU003';
    END IF;
END
$$;

COMMENT ON FUNCTION check_sweep_arguments(integer, interval) IS 'Raises MU003 for a sweep batch size outside 1-1000000 or a retention outside 0-1000 years.';

CREATE OR REPLACE FUNCTION sweep_retention(batch_size integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    swept bigint := 0;
    step  bigint;
BEGIN
    PERFORM check_sweep_arguments(sweep_retention.batch_size);
    DELETE FROM archive WHERE ctid IN (
        SELECT a.ctid FROM archive AS a JOIN queues AS q ON q.name = a.queue
        WHERE a.archived_at < now() - q.retention LIMIT batch_size);
    GET DIAGNOSTICS step = ROW_COUNT;
    swept := swept + step;
    DELETE FROM dead_letters WHERE ctid IN (
        SELECT d.ctid FROM dead_letters AS d JOIN queues AS q ON q.name = d.queue
        WHERE d.dead_at < now() - q.retention LIMIT batch_size);
    GET DIAGNOSTICS step = ROW_COUNT;
    swept := swept + step;
    DELETE FROM message_keys WHERE ctid IN (
        SELECT k.ctid FROM message_keys AS k JOIN queues AS q ON q.name = k.queue
        WHERE k.created_at < now() - q.dedup_window LIMIT batch_size);
    GET DIAGNOSTICS step = ROW_COUNT;
    RETURN swept + step;
END
$$;

CREATE OR REPLACE FUNCTION reap(holder text, token bigint, tombstone_retention interval DEFAULT '7 days', batch_size integer DEFAULT 1000)
RETURNS TABLE (kind text, count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    b       barriers;
    missing text;
    n       bigint;
BEGIN
    PERFORM check_sweep_arguments(reap.batch_size, reap.tombstone_retention);
    -- FOR SHARE: a takeover waits for this sweep, so two leaders never sweep at once.
    PERFORM 1 FROM leader_leases AS l
    WHERE l.name = 'reaper' AND l.holder = reap.holder AND l.token = reap.token AND l.expires_at > now()
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- Barriers past their deadline whose pending members are neither running nor in backoff.
    n := 0;
    FOR b IN
        SELECT x.* FROM barriers AS x
        WHERE x.status = 'armed' AND x.deadline <= now()
          AND NOT EXISTS (
              SELECT FROM barrier_members AS bm JOIN messages AS m ON m.id = bm.message_id
              WHERE bm.barrier_id = x.id AND bm.status = 'pending' AND message_is_alive(m))
        ORDER BY x.deadline
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    LOOP
        -- Re-check under the lock: a member may have been leased since the scan's snapshot.
        CONTINUE WHEN EXISTS (
            SELECT FROM barrier_members AS bm JOIN messages AS m ON m.id = bm.message_id
            WHERE bm.barrier_id = b.id AND bm.status = 'pending' AND message_is_alive(m));
        SELECT string_agg(k.member_key, ', ') INTO missing FROM (
            SELECT bm.member_key FROM barrier_members AS bm
            WHERE bm.barrier_id = b.id AND bm.status = 'pending' ORDER BY bm.member_key LIMIT 10) AS k;
        UPDATE barriers SET status = 'expired' WHERE id = b.id;
        PERFORM fail_execution(b.execution_id, format(
            'barrier %s passed its deadline with %s of %s members missing: %s%s',
            b.name, b.remaining, b.expected, missing, CASE WHEN b.remaining > 10 THEN ', ...' ELSE '' END));
        n := n + 1;
    END LOOP;
    RETURN QUERY SELECT 'expired_barriers', n;

    -- Executions past their own deadline, unless some of their work is alive.
    WITH overdue AS (
        SELECT e.id FROM executions AS e
        WHERE e.status IN ('pending', 'running') AND e.deadline <= now()
          AND NOT EXISTS (SELECT FROM messages AS m WHERE m.execution_id = e.id AND message_is_alive(m))
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    )
    SELECT count(*) FILTER (WHERE fail_execution(o.id, 'execution passed its deadline')) INTO n FROM overdue AS o;
    RETURN QUERY SELECT 'expired_executions', n;

    -- Held claims whose holder died: a retry may take them anyway; this keeps the table small.
    DELETE FROM claims WHERE ctid IN (
        SELECT c.ctid FROM claims AS c WHERE c.state = 'held' AND c.expires_at <= now() LIMIT batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT 'expired_claims', n;

    -- Tombstones past retention, only of executions that are terminal (or gone), whose status
    -- then keeps redelivered orchestration messages from running again.
    DELETE FROM claims WHERE ctid IN (
        SELECT c.ctid FROM claims AS c
        WHERE c.state = 'finished' AND c.finished_at < now() - tombstone_retention
          AND NOT EXISTS (SELECT FROM executions AS e WHERE e.id = c.execution_id AND e.status IN ('pending', 'running'))
        LIMIT batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT 'tombstones', n;

    RETURN QUERY SELECT 'retention', sweep_retention(batch_size);

    -- Worker rows of processes gone for a day.
    DELETE FROM workers AS w WHERE w.last_heartbeat_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT 'stale_workers', n;
END
$$;

CREATE OR REPLACE FUNCTION sweep_executions(holder text, token bigint, retention interval, batch_size integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    doomed uuid[];
BEGIN
    PERFORM check_sweep_arguments(sweep_executions.batch_size, sweep_executions.retention);
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
