-- Retrying a failed or canceled execution: it starts again from the start, as a new
-- execution linked to the old one, with the message that started the old one. The start
-- message is recorded when an execution starts (its queue, task and payload: the pipeline's
-- input), because the message itself is gone once its step ran.
--
-- From the start, not from the failed stage: a stage's input is the previous stage's
-- aggregate, which ran user code once with side effects of its own; re-running the pipeline
-- from its input, with handlers written to be idempotent (as at-least-once delivery already
-- requires), is the one restart that is always safe. The old execution keeps its history.

ALTER TABLE executions
    ADD COLUMN start_queue   text,
    ADD COLUMN start_task    text,
    ADD COLUMN start_payload jsonb,
    ADD COLUMN retry_of      uuid;

COMMENT ON COLUMN executions.start_queue IS 'Queue of the message that started it (NULL for executions started before migration 0012, or not by a pipeline start).';
COMMENT ON COLUMN executions.start_task IS 'Task of the message that started it.';
COMMENT ON COLUMN executions.start_payload IS 'Payload of the message that started it: the pipeline''s input, kept so retry_execution can start it again.';
COMMENT ON COLUMN executions.retry_of IS 'The failed or canceled execution this one retries (retry_execution); each is retried at most once.';

CREATE UNIQUE INDEX executions_retry_of ON executions (retry_of);

COMMENT ON INDEX executions_retry_of IS 'One retry per execution: retry_execution returns the existing one when asked again.';

-- Records how an execution started (called by Muster's start, in the start's transaction).
CREATE FUNCTION record_start(id uuid, queue text, task text, payload jsonb) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    UPDATE executions AS e
    SET start_queue = record_start.queue, start_task = record_start.task, start_payload = record_start.payload
    WHERE e.id = record_start.id;
END;

COMMENT ON FUNCTION record_start(uuid, text, text, jsonb) IS 'Records the queue, task and payload of the message that started an execution (for retry_execution).';

-- Starts a failed or canceled execution again from the start: a new pending execution of the
-- same pipeline (retry_of = the old one, same input summary, no deadline, no idempotency key)
-- and its start message, in one transaction. Asked again, returns the retry that exists
-- (created = false). MU005 for an unknown id, MU004 unless the execution failed or was
-- canceled, MU003 when its start was not recorded.
CREATE FUNCTION retry_execution(id uuid)
RETURNS TABLE (execution_id uuid, created boolean, message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    old      executions;
    retry_id uuid;
    message  bigint;
BEGIN
    SELECT * INTO old FROM executions AS e WHERE e.id = retry_execution.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', id USING ERRCODE = 'MU005';
    END IF;
    IF old.status NOT IN ('failed', 'canceled') THEN
        RAISE EXCEPTION 'execution % is %: only a failed or canceled execution can be retried', id, old.status USING ERRCODE = 'MU004';
    END IF;
    SELECT e.id INTO retry_id FROM executions AS e WHERE e.retry_of = retry_execution.id;
    IF FOUND THEN
        RETURN QUERY SELECT retry_id, false, NULL::bigint;
        RETURN;
    END IF;
    IF old.start_queue IS NULL THEN
        RAISE EXCEPTION 'execution % has no recorded start (started before migration 0012): start its pipeline again from your code', id
            USING ERRCODE = 'MU003';
    END IF;
    INSERT INTO executions AS e (pipeline, input_summary, retry_of, start_queue, start_task, start_payload)
    VALUES (old.pipeline, old.input_summary, old.id, old.start_queue, old.start_task, old.start_payload)
    RETURNING e.id INTO retry_id;
    message := send(old.start_queue, old.start_payload, NULL, NULL, old.start_task, retry_id);
    RETURN QUERY SELECT retry_id, true, message;
END
$$;

COMMENT ON FUNCTION retry_execution(uuid) IS 'Starts a failed or canceled execution again from the start as a new execution (retry_of); returns the existing retry when asked again.';
