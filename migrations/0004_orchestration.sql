-- Orchestration: executions, fan-out/fan-in barriers, orchestration claims and their
-- tombstones, the reaper's leader lease and its sweep.
--
-- Errors raised here (besides MU001-MU003 from the queue):
--   MU004  illegal execution status transition (the trigger below is the one place that decides)
--   MU005  unknown execution or barrier
--
-- Member and callback messages are ordinary queue messages. Their execution is the
-- messages.execution_id column; their barrier and member key are also headers
-- (muster-barrier, muster-member, muster-callback) so a worker knows what it holds without a
-- lookup, and barrier_members.message_id joins a member to its message for SQL debugging.

CREATE TABLE executions (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline        text        NOT NULL CHECK (pipeline ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    stage           text,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
    idempotency_key text        CHECK (octet_length(idempotency_key) BETWEEN 1 AND 512),
    input_summary   jsonb,
    output          jsonb,
    error           text,
    deadline        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (pipeline, idempotency_key)
);
CREATE INDEX executions_open ON executions (created_at) WHERE status IN ('pending', 'running');
CREATE INDEX executions_created ON executions (created_at);

COMMENT ON TABLE executions IS 'One row per pipeline execution. Messages, barriers and claims point here through execution_id, so every piece of work can be traced to something a person can query.';
COMMENT ON COLUMN executions.id IS 'Execution id (messages.execution_id, barriers.execution_id, claims.execution_id).';
COMMENT ON COLUMN executions.pipeline IS 'The pipeline it runs.';
COMMENT ON COLUMN executions.stage IS 'The stage it is in: the name of the last barrier armed for it.';
COMMENT ON COLUMN executions.status IS 'pending -> running -> completed | failed | canceled (pending may also fail or be canceled). Terminal states are final; execution_status_guard() refuses anything else.';
COMMENT ON COLUMN executions.idempotency_key IS 'Caller-supplied key: starting the same pipeline twice with one key returns the first execution.';
COMMENT ON COLUMN executions.input_summary IS 'A short description of the input, for people (not the input itself when that is large).';
COMMENT ON COLUMN executions.output IS 'The result, once completed.';
COMMENT ON COLUMN executions.error IS 'Why it failed or was canceled.';
COMMENT ON COLUMN executions.deadline IS 'After this the reaper fails it, unless some of its work is running or waiting out a retry backoff.';
COMMENT ON COLUMN executions.created_at IS 'When it was created.';
COMMENT ON COLUMN executions.updated_at IS 'When its status, stage, output or error last changed.';
COMMENT ON COLUMN executions.finished_at IS 'When it reached a terminal status.';

-- The one place that decides which status changes are legal.
CREATE FUNCTION execution_transition_allowed(from_status text, to_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (from_status, to_status) IN (
    ('pending', 'running'), ('pending', 'failed'), ('pending', 'canceled'),
    ('running', 'completed'), ('running', 'failed'), ('running', 'canceled')
);

COMMENT ON FUNCTION execution_transition_allowed(text, text) IS 'True when an execution may go from from_status to to_status.';

CREATE FUNCTION execution_status_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT execution_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'execution % cannot go from % to %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'MU004';
    END IF;
    IF NEW.status IN ('completed', 'failed', 'canceled') THEN
        NEW.finished_at := now();
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION execution_status_guard() IS 'Trigger: refuses illegal execution status transitions (MU004), also from psql, and stamps finished_at.';

CREATE TRIGGER executions_status_guard
BEFORE UPDATE OF status ON executions
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION execution_status_guard();

-- Creates an execution, or returns the existing one for a known (pipeline, idempotency_key).
CREATE FUNCTION create_execution(
    pipeline        text,
    input_summary   jsonb       DEFAULT NULL,
    idempotency_key text        DEFAULT NULL,
    deadline        timestamptz DEFAULT NULL
) RETURNS TABLE (id uuid, created boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    IF pipeline IS NULL OR pipeline !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
        RAISE EXCEPTION 'pipeline name must be 1-100 letters, digits, _ . : or -' USING ERRCODE = 'MU003';
    END IF;
    IF idempotency_key IS NOT NULL AND octet_length(idempotency_key) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION 'idempotency key must be 1-512 bytes' USING ERRCODE = 'MU003';
    END IF;
    -- DO UPDATE (of nothing that matters) rather than DO NOTHING, so a concurrent start with
    -- the same key gets the winner's id back even though its snapshot cannot see the row.
    RETURN QUERY
    INSERT INTO executions AS e (pipeline, input_summary, idempotency_key, deadline)
    VALUES (create_execution.pipeline, create_execution.input_summary, create_execution.idempotency_key,
            create_execution.deadline)
    ON CONFLICT ON CONSTRAINT executions_pipeline_idempotency_key_key DO UPDATE SET pipeline = e.pipeline
    RETURNING e.id, (e.xmax = 0);
END
$$;

COMMENT ON FUNCTION create_execution(text, jsonb, text, timestamptz) IS 'Creates an execution (pending); with an idempotency key already used for the pipeline, returns that one with created = false.';

-- Moves an execution to `status` (validated by the trigger), optionally setting stage,
-- output and error. Raises MU005 for an unknown id, MU004 for an illegal transition.
CREATE FUNCTION transition_execution(id uuid, status text, stage text DEFAULT NULL, output jsonb DEFAULT NULL, error text DEFAULT NULL)
RETURNS executions
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    row executions;
BEGIN
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

COMMENT ON FUNCTION transition_execution(uuid, text, text, jsonb, text) IS 'Moves an execution to a new status (MU004 when illegal, MU005 when unknown).';

-- Fails an execution unless it is already terminal; the library's internal "give up" path
-- (fail-fast barriers, dead-lettered messages, the reaper), which must never raise.
CREATE FUNCTION fail_execution(id uuid, error text) RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    UPDATE executions AS e SET status = 'failed', error = fail_execution.error, updated_at = now()
    WHERE e.id = fail_execution.id AND e.status IN ('pending', 'running');
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION fail_execution(uuid, text) IS 'Fails a pending or running execution; returns false (and changes nothing) when it is unknown or already terminal.';

CREATE TABLE barriers (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id        uuid        NOT NULL REFERENCES executions (id),
    name                text        NOT NULL CHECK (name ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    expected            integer     NOT NULL CHECK (expected >= 0),
    remaining           integer     NOT NULL,
    failed              integer     NOT NULL DEFAULT 0,
    on_failure          text        NOT NULL DEFAULT 'wait_for_all' CHECK (on_failure IN ('wait_for_all', 'fail_fast')),
    status              text        NOT NULL DEFAULT 'armed' CHECK (status IN ('armed', 'fired', 'failed', 'expired')),
    callback_queue      text        NOT NULL,
    callback_task       text        NOT NULL,
    callback_payload    jsonb       NOT NULL DEFAULT '{}',
    callback_message_id bigint,
    deadline            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_completed_at   timestamptz,
    fired_at            timestamptz,
    finalized_at        timestamptz,
    UNIQUE (execution_id, name)
);
CREATE INDEX barriers_deadline ON barriers (deadline) WHERE status = 'armed' AND deadline IS NOT NULL;

COMMENT ON TABLE barriers IS 'Fan-out/fan-in counters: one per (execution, stage). The completion that brings remaining to zero enqueues the callback, once.';
COMMENT ON COLUMN barriers.id IS 'Barrier id (the muster-barrier header of its member and callback messages).';
COMMENT ON COLUMN barriers.execution_id IS 'The execution it belongs to.';
COMMENT ON COLUMN barriers.name IS 'Stage or barrier name, unique per execution: arming it again returns the existing barrier.';
COMMENT ON COLUMN barriers.expected IS 'Members it was armed with.';
COMMENT ON COLUMN barriers.remaining IS 'Members not yet completed (succeeded or failed).';
COMMENT ON COLUMN barriers.failed IS 'Members that failed (handler gave up, or the message was dead-lettered).';
COMMENT ON COLUMN barriers.on_failure IS 'wait_for_all: failures are recorded and the callback sees them; fail_fast: the first failure fails the execution and fires the callback at once.';
COMMENT ON COLUMN barriers.status IS 'armed: counting; fired: all members done, callback enqueued; failed: fail_fast tripped, callback enqueued; expired: the reaper gave up at the deadline.';
COMMENT ON COLUMN barriers.callback_queue IS 'Queue of the aggregating callback.';
COMMENT ON COLUMN barriers.callback_task IS 'Task of the aggregating callback.';
COMMENT ON COLUMN barriers.callback_payload IS 'Payload of the callback message (member results are read from barrier_members).';
COMMENT ON COLUMN barriers.callback_message_id IS 'The callback message, once enqueued.';
COMMENT ON COLUMN barriers.deadline IS 'After this the reaper expires it and fails the execution, unless a pending member is running or waiting out a retry backoff.';
COMMENT ON COLUMN barriers.created_at IS 'When it was armed.';
COMMENT ON COLUMN barriers.last_completed_at IS 'When a member last completed.';
COMMENT ON COLUMN barriers.fired_at IS 'When the callback was enqueued.';
COMMENT ON COLUMN barriers.finalized_at IS 'When the callback completed; a redelivered callback sees this and skips its side effects.';

-- No foreign key to barriers: fan_out() inserts the members right after their barrier, and a
-- per-row RI check would cost a 100,000-member fan-out 100,000 trigger calls.
CREATE TABLE barrier_members (
    barrier_id   bigint      NOT NULL,
    member_key   text        NOT NULL,
    message_id   bigint,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    result       jsonb,
    error        text,
    completed_at timestamptz,
    PRIMARY KEY (barrier_id, member_key)
);

COMMENT ON TABLE barrier_members IS 'One row per member of a barrier; completing a member moves it out of pending exactly once.';
COMMENT ON COLUMN barrier_members.barrier_id IS 'The barrier.';
COMMENT ON COLUMN barrier_members.member_key IS 'The member''s key, unique within the barrier (the muster-member header of its message).';
COMMENT ON COLUMN barrier_members.message_id IS 'Its message (messages.id while waiting or running; archive or dead_letters after).';
COMMENT ON COLUMN barrier_members.status IS 'pending, succeeded or failed.';
COMMENT ON COLUMN barrier_members.result IS 'What the member''s handler returned (JSON).';
COMMENT ON COLUMN barrier_members.error IS 'Why it failed.';
COMMENT ON COLUMN barrier_members.completed_at IS 'When it completed.';

-- Enqueues the barrier's callback and marks it `outcome` (fired or failed), once: only an
-- armed barrier fires, and the callback's dedup key is derived from the barrier id.
CREATE FUNCTION fire_barrier(barrier_id bigint, outcome text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    b       barriers;
    message bigint;
BEGIN
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

COMMENT ON FUNCTION fire_barrier(bigint, text) IS 'Enqueues an armed barrier''s callback and sets its status; does nothing for a barrier that already fired.';

-- Arms a barrier and sends its members in one statement (and so one transaction with the
-- caller's). Idempotent per (execution, name): arming again returns the existing barrier
-- with created = false and sends nothing. No members fires the callback at once. The
-- execution moves to running (if pending) with stage = name.
CREATE FUNCTION fan_out(
    execution_id     uuid,
    name             text,
    member_queue     text,
    member_task      text,
    member_keys      text[],
    member_payloads  jsonb[],
    callback_queue   text,
    callback_task    text,
    callback_payload jsonb       DEFAULT '{}',
    on_failure       text        DEFAULT 'wait_for_all',
    deadline         timestamptz DEFAULT NULL
) RETURNS TABLE (barrier_id bigint, created boolean, callback_message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    n           integer := coalesce(cardinality(member_keys), 0);
    exec_status text;
    new_id      bigint;
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
        RAISE EXCEPTION 'barrier name must be 1-100 letters, digits, _ . : or -' USING ERRCODE = 'MU003';
    END IF;
    IF on_failure IS NULL OR on_failure NOT IN ('wait_for_all', 'fail_fast') THEN
        RAISE EXCEPTION 'on_failure must be wait_for_all or fail_fast' USING ERRCODE = 'MU003';
    END IF;
    IF cardinality(member_payloads) IS DISTINCT FROM n AND n > 0 THEN
        RAISE EXCEPTION 'fan_out: one payload per member key (% keys)', n USING ERRCODE = 'MU003';
    END IF;
    IF member_task IS NULL OR callback_task IS NULL OR callback_payload IS NULL THEN
        RAISE EXCEPTION 'fan_out: member task, callback task and callback payload are required' USING ERRCODE = 'MU003';
    END IF;
    IF EXISTS (SELECT FROM unnest(member_keys) AS k WHERE k IS NULL OR octet_length(k) NOT BETWEEN 1 AND 200)
       OR (SELECT count(DISTINCT k) FROM unnest(member_keys) AS k) <> n THEN
        RAISE EXCEPTION 'fan_out: member keys must be distinct, non-NULL and 1-200 bytes' USING ERRCODE = 'MU003';
    END IF;
    PERFORM queue_settings(member_queue);
    PERFORM queue_settings(callback_queue);

    SELECT e.status INTO exec_status FROM executions AS e WHERE e.id = fan_out.execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', execution_id USING ERRCODE = 'MU005';
    END IF;

    INSERT INTO barriers (execution_id, name, expected, remaining, on_failure, callback_queue, callback_task,
                          callback_payload, deadline)
    VALUES (fan_out.execution_id, fan_out.name, n, n, fan_out.on_failure, fan_out.callback_queue,
            fan_out.callback_task, fan_out.callback_payload, fan_out.deadline)
    ON CONFLICT ON CONSTRAINT barriers_execution_id_name_key DO NOTHING
    RETURNING barriers.id INTO new_id;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT b.id, false, b.callback_message_id FROM barriers AS b
                     WHERE b.execution_id = fan_out.execution_id AND b.name = fan_out.name;
        RETURN;
    END IF;
    IF exec_status NOT IN ('pending', 'running') THEN
        RAISE EXCEPTION 'execution % is %: nothing more can be fanned out', execution_id, exec_status USING ERRCODE = 'MU004';
    END IF;
    UPDATE executions AS e SET status = 'running', stage = fan_out.name, updated_at = now()
    WHERE e.id = fan_out.execution_id;

    IF n > 0 THEN
        INSERT INTO barrier_members (barrier_id, member_key, message_id)
        SELECT new_id, k.key, s.id
        FROM send(
            member_queue,
            member_payloads,
            ARRAY(SELECT 'muster:barrier:' || new_id || ':' || k FROM unnest(member_keys) WITH ORDINALITY AS u(k, o) ORDER BY o),
            ARRAY(SELECT jsonb_build_object('muster-barrier', new_id::text, 'muster-member', k)
                  FROM unnest(member_keys) WITH ORDINALITY AS u(k, o) ORDER BY o),
            array_fill(member_task, ARRAY[n]),
            array_fill(execution_id, ARRAY[n])
        ) AS s
        JOIN unnest(member_keys) WITH ORDINALITY AS k(key, ord) ON k.ord = s.ord;
        RETURN QUERY SELECT new_id, true, NULL::bigint;
    ELSE
        RETURN QUERY SELECT new_id, true, fire_barrier(new_id, 'fired');
    END IF;
END
$$;

COMMENT ON FUNCTION fan_out(uuid, text, text, text, text[], jsonb[], text, text, jsonb, text, timestamptz) IS
    'Arms a barrier and sends its member messages in one statement; idempotent per (execution, name). Raises MU001, MU002, MU003, MU004, MU005.';

-- Records one member's outcome and counts it, once: only a pending member moves, so a
-- duplicate completion changes nothing. The member must be the one sent as message_id, so a
-- message carrying forged muster-barrier/muster-member headers counts nothing. The member row is locked before the barrier row by
-- every caller, and the barrier row lock serialises the decrements, so exactly one
-- completion sees remaining reach zero and fires. A failed member of a fail_fast barrier
-- fires it as failed and fails the execution.
CREATE FUNCTION record_member(barrier_id bigint, member_key text, message_id bigint, succeeded boolean,
                              result jsonb DEFAULT NULL, error text DEFAULT NULL)
RETURNS TABLE (counted boolean, remaining integer, fired boolean, callback_message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    b       barriers;
    message bigint;
BEGIN
    UPDATE barrier_members AS m
    SET status = CASE WHEN succeeded THEN 'succeeded' ELSE 'failed' END,
        result = record_member.result, error = record_member.error, completed_at = now()
    WHERE m.barrier_id = record_member.barrier_id AND m.member_key = record_member.member_key
      AND m.message_id = record_member.message_id AND m.status = 'pending';
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::integer, false, NULL::bigint;
        RETURN;
    END IF;
    UPDATE barriers AS x
    SET remaining = x.remaining - 1, failed = x.failed + (NOT succeeded)::integer, last_completed_at = now()
    WHERE x.id = record_member.barrier_id
    RETURNING x.* INTO b;
    IF b.status = 'armed' AND NOT succeeded AND b.on_failure = 'fail_fast' THEN
        message := fire_barrier(b.id, 'failed');
        PERFORM fail_execution(b.execution_id,
            format('member %s of barrier %s failed: %s', record_member.member_key, b.name,
                   coalesce(record_member.error, 'no error recorded')));
    ELSIF b.status = 'armed' AND b.remaining = 0 THEN
        message := fire_barrier(b.id, 'fired');
    END IF;
    RETURN QUERY SELECT true, b.remaining, message IS NOT NULL, message;
END
$$;

COMMENT ON FUNCTION record_member(bigint, text, bigint, boolean, jsonb, text) IS 'Counts a member''s completion once and fires the barrier when it was the last (or the first failure under fail_fast).';

-- A member's completion by the worker holding its lease: the fenced ack of its message and
-- the member's record in one statement. A lost lease (applied = false) records nothing: the
-- current holder will complete it.
CREATE FUNCTION complete_member(
    queue      text,
    message_id bigint,
    read_ct    integer,
    barrier_id bigint,
    member_key text,
    succeeded  boolean,
    result     jsonb DEFAULT NULL,
    error      text  DEFAULT NULL
) RETURNS TABLE (applied boolean, counted boolean, remaining integer, fired boolean, callback_message_id bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    IF NOT (SELECT a.acked FROM ack(queue, ARRAY[message_id], ARRAY[read_ct]) AS a) THEN
        RETURN QUERY SELECT false, false, NULL::integer, false, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT true, r.* FROM record_member(barrier_id, member_key, message_id, succeeded, result, error) AS r;
END
$$;

COMMENT ON FUNCTION complete_member(text, bigint, integer, bigint, text, boolean, jsonb, text) IS
    'Fenced ack of a member message plus its barrier record, atomically. applied = false: lease lost, nothing recorded.';

-- Marks a fired barrier's callback done (once) and acks the callback message (fenced), in
-- one statement. The finalization stands even when the lease was lost: the work is done,
-- and whoever holds the message now will see finalized_at and skip the side effects.
CREATE FUNCTION finalize_barrier(queue text, message_id bigint, read_ct integer, barrier_id bigint)
RETURNS TABLE (finalized boolean, acked boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    done boolean;
BEGIN
    UPDATE barriers AS b SET finalized_at = now()
    WHERE b.id = finalize_barrier.barrier_id AND b.finalized_at IS NULL AND b.status IN ('fired', 'failed');
    done := FOUND;
    RETURN QUERY SELECT done, a.acked FROM ack(queue, ARRAY[message_id], ARRAY[read_ct]) AS a;
END
$$;

COMMENT ON FUNCTION finalize_barrier(text, bigint, integer, bigint) IS 'Records that a barrier''s callback completed (once) and acks its message.';

-- A dead-lettered message must not leave its execution hanging: a barrier member is counted
-- as failed (its barrier decides what that means), a callback or any other message of an
-- execution fails the execution. Covers every way into dead_letters: poison at read, the
-- worker giving up, explicit moves.
CREATE FUNCTION dead_letter_settles_execution() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    why text := format('message %s (%s) dead-lettered: %s: %s', NEW.id, coalesce(NEW.task, 'no task'), NEW.reason,
                       coalesce(NEW.last_error, 'no error recorded'));
BEGIN
    -- A failure here must never undo the dead-letter move (a read that poisons a message
    -- would fail again on every retry and stall its queue): the subtransaction confines it.
    BEGIN
        IF NEW.headers ? 'muster-member' AND NEW.headers ->> 'muster-barrier' ~ '^[0-9]{1,18}$' THEN
            PERFORM record_member((NEW.headers ->> 'muster-barrier')::bigint, NEW.headers ->> 'muster-member', NEW.id,
                                  false, NULL, why);
        ELSE
            PERFORM fail_execution(NEW.execution_id, why);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'muster: could not settle execution % for dead letter %: %', NEW.execution_id, NEW.id, SQLERRM;
    END;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION dead_letter_settles_execution() IS 'Trigger: a dead-lettered member counts as failed; any other dead-lettered message of an execution fails it.';

CREATE TRIGGER dead_letters_settle_execution
AFTER INSERT ON dead_letters
FOR EACH ROW WHEN (NEW.execution_id IS NOT NULL)
EXECUTE FUNCTION dead_letter_settles_execution();

CREATE TABLE claims (
    execution_id uuid        NOT NULL,
    name         text        NOT NULL CHECK (name ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    holder       text        NOT NULL,
    token        bigint      NOT NULL,
    state        text        NOT NULL CHECK (state IN ('held', 'finished')),
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    PRIMARY KEY (execution_id, name)
);
CREATE INDEX claims_expiry ON claims (expires_at) WHERE state = 'held';
CREATE INDEX claims_finished ON claims (finished_at) WHERE state = 'finished';

COMMENT ON TABLE claims IS 'Orchestration claims: who runs an execution''s orchestrator step now (held), and tombstones (finished) that stop a redelivered orchestration message from running it again.';
COMMENT ON COLUMN claims.execution_id IS 'The execution.';
COMMENT ON COLUMN claims.name IS 'The step claimed (e.g. orchestrate, or a stage name).';
COMMENT ON COLUMN claims.holder IS 'Worker id of the holder.';
COMMENT ON COLUMN claims.token IS 'Incremented each time the claim changes hands; heartbeat, finish and release must carry it with the holder.';
COMMENT ON COLUMN claims.state IS 'held: someone is running the step; finished: a tombstone, the step is done.';
COMMENT ON COLUMN claims.claimed_at IS 'When the current holder took it.';
COMMENT ON COLUMN claims.expires_at IS 'A held claim past this is abandoned (its holder died) and may be taken over.';
COMMENT ON COLUMN claims.finished_at IS 'When the step finished; the reaper removes tombstones of terminal executions after the retention period.';

-- Tries to take the claim. won: the caller holds it (new token); held_by_other: someone else
-- holds an unexpired claim; finished: the step has a tombstone or the execution is terminal
-- (so a redelivered orchestration message is skipped even after its tombstone is gone).
CREATE FUNCTION try_claim(execution_id uuid, name text, holder text, ttl interval)
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

COMMENT ON FUNCTION try_claim(uuid, text, text, interval) IS 'Takes a claim (won), or reports held_by_other or finished. An expired claim is taken over with a new token.';

-- Heartbeat, finish and release are fenced by holder and token together: the holder is
-- unique per try_claim call, and a claim row deleted by a release or the reaper restarts
-- its token at 1, so the token alone would let a stale holder act on a new one's claim.

-- Extends a held claim.
CREATE FUNCTION heartbeat_claim(execution_id uuid, name text, holder text, token bigint, ttl interval) RETURNS boolean
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    WITH extended AS (
        UPDATE claims AS x SET expires_at = now() + ttl
        WHERE x.execution_id = heartbeat_claim.execution_id AND x.name = heartbeat_claim.name
          AND x.holder = heartbeat_claim.holder AND x.token = heartbeat_claim.token AND x.state = 'held'
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM extended);
END;

COMMENT ON FUNCTION heartbeat_claim(uuid, text, text, bigint, interval) IS 'Extends a held claim; false when it was lost (taken over or released).';

-- Turns a held claim into a tombstone, fenced. Repeating it returns true again.
CREATE FUNCTION finish_claim(execution_id uuid, name text, holder text, token bigint) RETURNS boolean
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    WITH finished AS (
        UPDATE claims AS x SET state = 'finished', finished_at = coalesce(x.finished_at, now())
        WHERE x.execution_id = finish_claim.execution_id AND x.name = finish_claim.name
          AND x.holder = finish_claim.holder AND x.token = finish_claim.token
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM finished);
END;

COMMENT ON FUNCTION finish_claim(uuid, text, text, bigint) IS 'Turns the caller''s claim into a tombstone; false when the claim was lost.';

-- Gives a held claim up so a retry can take it at once, fenced. Idempotent: releasing again
-- (or after a takeover) changes nothing.
CREATE FUNCTION release_claim(execution_id uuid, name text, holder text, token bigint) RETURNS boolean
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    WITH released AS (
        DELETE FROM claims AS x
        WHERE x.execution_id = release_claim.execution_id AND x.name = release_claim.name
          AND x.holder = release_claim.holder AND x.token = release_claim.token AND x.state = 'held'
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM released);
END;

COMMENT ON FUNCTION release_claim(uuid, text, text, bigint) IS 'Releases the caller''s held claim; false when there was nothing of the caller''s to release.';

CREATE TABLE leader_leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    token       bigint      NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    renewed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

COMMENT ON TABLE leader_leases IS 'Leader election by lease (works behind PgBouncer, unlike session advisory locks): the reaper runs only in the holder of the reaper lease.';
COMMENT ON COLUMN leader_leases.name IS 'What is led (reaper).';
COMMENT ON COLUMN leader_leases.holder IS 'Worker id of the leader.';
COMMENT ON COLUMN leader_leases.token IS 'Fencing token: incremented when leadership changes hands; the sweep checks it.';
COMMENT ON COLUMN leader_leases.acquired_at IS 'When the current leader took over.';
COMMENT ON COLUMN leader_leases.renewed_at IS 'Its last renewal.';
COMMENT ON COLUMN leader_leases.expires_at IS 'Past this, another process may take over (the leader died).';

-- Takes or renews leadership. The holder renews its own lease; anyone may take an expired one.
CREATE FUNCTION acquire_leadership(name text, holder text, ttl interval)
RETURNS TABLE (leader boolean, token bigint, held_by text, expires_at timestamptz)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    l leader_leases;
BEGIN
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

COMMENT ON FUNCTION acquire_leadership(text, text, interval) IS 'Takes or renews a leader lease; leader = false names the current leader.';

-- Steps down at once (graceful shutdown), so another process need not wait for expiry.
CREATE FUNCTION resign_leadership(name text, holder text, token bigint) RETURNS boolean
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    WITH resigned AS (
        DELETE FROM leader_leases AS x
        WHERE x.name = resign_leadership.name AND x.holder = resign_leadership.holder AND x.token = resign_leadership.token
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM resigned);
END;

COMMENT ON FUNCTION resign_leadership(text, text, bigint) IS 'Gives up a leader lease held by holder with token.';

-- Whether work a deadline would cut off is alive: running under an unexpired lease, or
-- already attempted with attempts left, i.e. waiting out a retry backoff or to be re-read
-- after its worker died. Slow work is not stuck work. A message never attempted by the
-- deadline (nobody picked it up) or out of attempts is not alive.
CREATE FUNCTION message_is_alive(m messages) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT
RETURN (m.state = 'leased' AND m.visible_at > now())
    OR (m.read_ct > 0 AND m.read_ct < (SELECT q.max_attempts FROM queues AS q WHERE q.name = m.queue));

COMMENT ON FUNCTION message_is_alive(messages) IS 'True for a message running under a live lease, or attempted before with attempts left (in retry): the reaper''s deadline sweeps spare its execution.';

-- One reaper pass, run by the leader only (fenced by its lease token; returns nothing when
-- the caller is not the leader). Each kind is bounded by batch_size. Returns (kind, count).
CREATE FUNCTION reap(holder text, token bigint, tombstone_retention interval DEFAULT '7 days', batch_size integer DEFAULT 1000)
RETURNS TABLE (kind text, count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    b       barriers;
    missing text;
    n       bigint;
BEGIN
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

COMMENT ON FUNCTION reap(text, bigint, interval, integer) IS 'One reaper pass (leader only): expires overdue barriers and executions, removes expired claims, old tombstones, archive and dead letters past retention, stale worker rows.';

CREATE VIEW barrier_progress AS
SELECT
    b.id,
    b.execution_id,
    b.name,
    b.status,
    b.on_failure,
    b.expected,
    b.remaining,
    b.expected - b.remaining AS done,
    b.failed,
    now() - b.created_at AS age,
    b.last_completed_at,
    b.deadline,
    b.fired_at,
    b.finalized_at,
    b.callback_message_id
FROM barriers AS b;

COMMENT ON VIEW barrier_progress IS 'Every barrier with its counts: how far along each fan-in is.';
COMMENT ON COLUMN barrier_progress.id IS 'Barrier id.';
COMMENT ON COLUMN barrier_progress.execution_id IS 'Its execution.';
COMMENT ON COLUMN barrier_progress.name IS 'Its stage name.';
COMMENT ON COLUMN barrier_progress.status IS 'armed, fired, failed or expired.';
COMMENT ON COLUMN barrier_progress.on_failure IS 'wait_for_all or fail_fast.';
COMMENT ON COLUMN barrier_progress.expected IS 'Members armed.';
COMMENT ON COLUMN barrier_progress.remaining IS 'Members not completed.';
COMMENT ON COLUMN barrier_progress.done IS 'Members completed (succeeded or failed).';
COMMENT ON COLUMN barrier_progress.failed IS 'Members failed.';
COMMENT ON COLUMN barrier_progress.age IS 'Time since it was armed.';
COMMENT ON COLUMN barrier_progress.last_completed_at IS 'When a member last completed: no change for long means no progress.';
COMMENT ON COLUMN barrier_progress.deadline IS 'When the reaper may expire it.';
COMMENT ON COLUMN barrier_progress.fired_at IS 'When its callback was enqueued.';
COMMENT ON COLUMN barrier_progress.finalized_at IS 'When its callback completed.';
COMMENT ON COLUMN barrier_progress.callback_message_id IS 'The callback message.';

CREATE VIEW pending_members AS
SELECT
    bm.barrier_id,
    b.execution_id,
    b.name AS barrier,
    bm.member_key,
    bm.message_id,
    m.state AS message_state,
    m.read_ct,
    m.error_ct,
    m.last_error,
    m.leased_by,
    m.visible_at,
    m.id IS NULL AS message_missing
FROM barrier_members AS bm
JOIN barriers AS b ON b.id = bm.barrier_id
LEFT JOIN messages AS m ON m.id = bm.message_id
WHERE bm.status = 'pending';

COMMENT ON VIEW pending_members IS 'Members not yet done, with where their message is: waiting, in backoff, held by whom, or missing.';
COMMENT ON COLUMN pending_members.barrier_id IS 'The barrier.';
COMMENT ON COLUMN pending_members.execution_id IS 'Its execution.';
COMMENT ON COLUMN pending_members.barrier IS 'The barrier''s name.';
COMMENT ON COLUMN pending_members.member_key IS 'The member.';
COMMENT ON COLUMN pending_members.message_id IS 'Its message.';
COMMENT ON COLUMN pending_members.message_state IS 'ready, delayed (backoff or delay) or leased; NULL when the message is gone.';
COMMENT ON COLUMN pending_members.read_ct IS 'Deliveries so far.';
COMMENT ON COLUMN pending_members.error_ct IS 'Deliveries that recorded an error.';
COMMENT ON COLUMN pending_members.last_error IS 'The last recorded error.';
COMMENT ON COLUMN pending_members.leased_by IS 'Who holds it (when leased).';
COMMENT ON COLUMN pending_members.visible_at IS 'When it becomes visible (delayed) or its lease expires (leased).';
COMMENT ON COLUMN pending_members.message_missing IS 'True when the message is gone but the member is not done: it will never complete; the reaper expires the barrier at its deadline.';

CREATE VIEW execution_overview AS
SELECT
    e.id,
    e.pipeline,
    e.status,
    e.stage,
    e.created_at,
    e.updated_at,
    e.finished_at,
    coalesce(e.finished_at, now()) - e.created_at AS duration,
    (SELECT count(*) FROM barriers AS b WHERE b.execution_id = e.id) AS barriers,
    (SELECT count(*) FROM barriers AS b WHERE b.execution_id = e.id AND b.status = 'armed') AS barriers_armed,
    (SELECT count(*) FROM messages AS m WHERE m.execution_id = e.id) AS messages_waiting_or_running,
    (SELECT count(*) FROM messages AS m WHERE m.execution_id = e.id AND m.state = 'leased') AS messages_leased,
    (SELECT count(*) FROM dead_letters AS d WHERE d.execution_id = e.id) AS dead_letters,
    e.error
FROM executions AS e;

COMMENT ON VIEW execution_overview IS 'Executions with their stage and counts of barriers, messages and dead letters.';
COMMENT ON COLUMN execution_overview.id IS 'Execution id.';
COMMENT ON COLUMN execution_overview.pipeline IS 'Its pipeline.';
COMMENT ON COLUMN execution_overview.status IS 'Its status.';
COMMENT ON COLUMN execution_overview.stage IS 'Its current stage.';
COMMENT ON COLUMN execution_overview.created_at IS 'When it was created.';
COMMENT ON COLUMN execution_overview.updated_at IS 'When it last changed.';
COMMENT ON COLUMN execution_overview.finished_at IS 'When it finished.';
COMMENT ON COLUMN execution_overview.duration IS 'How long it ran (so far).';
COMMENT ON COLUMN execution_overview.barriers IS 'Barriers armed for it.';
COMMENT ON COLUMN execution_overview.barriers_armed IS 'Barriers still counting.';
COMMENT ON COLUMN execution_overview.messages_waiting_or_running IS 'Its messages still in the queue (ready, delayed or leased).';
COMMENT ON COLUMN execution_overview.messages_leased IS 'Its messages held by workers now.';
COMMENT ON COLUMN execution_overview.dead_letters IS 'Its dead-lettered messages.';
COMMENT ON COLUMN execution_overview.error IS 'Why it failed, if it did.';
