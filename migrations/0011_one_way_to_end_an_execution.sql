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
