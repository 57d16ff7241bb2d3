-- Inspection: views and functions for on-call debugging with plain SQL (docs/sql-debugging.md).
-- Nothing here writes or locks: every object only reads, so any of them is safe to run against
-- a busy production queue. They answer "is this stuck, and why", "what happened", "who holds
-- what" and "what will the reaper do next" without reading the library's code.
--
-- Objects:
--   worker_is_alive(workers)     whether a worker row belongs to a running process
--   worker_overview              workers with liveness and the leases they hold
--   execution_activity           every execution with its pending work and why it is not finished
--   stuck_executions(interval)   open executions nothing is working on, with a reason
--   execution_timeline(uuid)     what happened to one execution, in order
--   dead_letter_summary          dead letters grouped by queue, task and reason
--   reaper_outlook               what the next reaper pass would act on, and who leads

-- Workers beat every third of their visibility timeout (10 s at the default 30 s), so a row
-- is alive while its last beat is younger than the longest visibility timeout of its queues
-- (three beat intervals) and never less than a minute: a late beat is not a death. workers
-- does not record a per-worker visibility timeout override, so a worker running with a longer
-- one than its queues' may show as dead between beats.
CREATE FUNCTION worker_is_alive(w workers) RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT
RETURN w.stopped_at IS NULL
   AND w.last_heartbeat_at > now() - greatest(
           interval '1 minute',
           (SELECT max(q.visibility_timeout) FROM queues AS q WHERE q.name = ANY (w.queues)));

COMMENT ON FUNCTION worker_is_alive(workers) IS 'True when the worker has not stopped and beat within the larger of 1 minute and its queues'' longest visibility timeout.';

CREATE VIEW worker_overview AS
SELECT
    w.id,
    w.host,
    w.pid,
    w.queues,
    w.concurrency,
    w.in_flight,
    worker_is_alive(w) AS alive,
    coalesce(l.leases_held, 0) AS leases_held,
    coalesce(l.leases_expired, 0) AS leases_expired,
    l.oldest_lease_age,
    now() - w.last_heartbeat_at AS last_heartbeat_age,
    w.started_at,
    w.stopped_at
FROM workers AS w
-- One pass over the leased messages for all workers (messages has no index on leased_by).
LEFT JOIN (
    SELECT
        m.leased_by,
        count(*) FILTER (WHERE m.visible_at > now()) AS leases_held,
        count(*) FILTER (WHERE m.visible_at <= now()) AS leases_expired,
        now() - min(m.last_read_at) FILTER (WHERE m.visible_at > now()) AS oldest_lease_age
    FROM messages AS m
    WHERE m.state = 'leased'
    GROUP BY m.leased_by
) AS l ON l.leased_by = w.id;

COMMENT ON VIEW worker_overview IS 'Every worker row with whether it is alive and the leases it holds: which workers are running, and what each is doing.';
COMMENT ON COLUMN worker_overview.id IS 'The worker id (messages.leased_by).';
COMMENT ON COLUMN worker_overview.host IS 'Host name of the process.';
COMMENT ON COLUMN worker_overview.pid IS 'Process id on that host.';
COMMENT ON COLUMN worker_overview.queues IS 'Queues it consumes.';
COMMENT ON COLUMN worker_overview.concurrency IS 'Most handlers it runs at once.';
COMMENT ON COLUMN worker_overview.in_flight IS 'Handlers running at its last heartbeat.';
COMMENT ON COLUMN worker_overview.alive IS 'Not stopped, and its last heartbeat is recent (worker_is_alive): false means it stopped or died.';
COMMENT ON COLUMN worker_overview.leases_held IS 'Messages it holds under a lease that has not expired.';
COMMENT ON COLUMN worker_overview.leases_expired IS 'Messages still marked as leased by it whose lease ran out (it died or stalled); the next read of their queue takes them back.';
COMMENT ON COLUMN worker_overview.oldest_lease_age IS 'How long its oldest unexpired lease has been held (since that delivery started); NULL when it holds none.';
COMMENT ON COLUMN worker_overview.last_heartbeat_age IS 'Time since its last heartbeat.';
COMMENT ON COLUMN worker_overview.started_at IS 'When it started.';
COMMENT ON COLUMN worker_overview.stopped_at IS 'When it shut down gracefully (NULL while running, or when it died).';

-- Per execution: where its messages are, its barriers, when anything last moved, and one
-- sentence saying why it is not finished. stuck_executions() is this view filtered to open
-- executions that nothing is working on. Filter by id or status: unfiltered it visits every
-- execution ever created.
--
-- A message of an execution is in exactly one phase:
--   running  leased, lease not expired (a worker is on it)
--   waiting  readable now: ready, a delayed one that is due, or a lease that ran out
--   backoff  delayed and not yet due (retry backoff, or a send delay when never attempted)
CREATE VIEW execution_activity AS
SELECT
    e.id,
    e.pipeline,
    e.status,
    e.stage,
    now() - e.created_at AS age,
    p.last_progress_at,
    now() - p.last_progress_at AS quiet_for,
    m.running AS messages_leased,
    m.waiting AS messages_waiting,
    m.backoff AS messages_in_backoff,
    m.next_visible_at,
    b.armed AS barriers_armed,
    e.deadline,
    r.why || r.deadline_note AS reason
FROM executions AS e
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE x.phase = 'running') AS running,
        count(*) FILTER (WHERE x.phase = 'waiting') AS waiting,
        count(*) FILTER (WHERE x.phase = 'backoff') AS backoff,
        bool_or(x.read_ct > 0) FILTER (WHERE x.phase = 'backoff') AS retrying,
        min(x.visible_at) FILTER (WHERE x.phase = 'backoff') AS next_visible_at,
        array_agg(DISTINCT x.queue ORDER BY x.queue) FILTER (WHERE x.phase = 'waiting') AS waiting_queues,
        string_agg(DISTINCT x.queue, ', ') FILTER (WHERE x.phase = 'running') AS running_queues,
        string_agg(DISTINCT coalesce(x.leased_by, 'an unregistered reader'), ', ') FILTER (WHERE x.phase = 'running') AS holders,
        max(greatest(x.enqueued_at, x.last_read_at)) AS last_activity,
        coalesce(bool_or(x.alive), false) AS alive
    FROM (
        SELECT msg.*,
               CASE WHEN msg.state = 'leased' AND msg.visible_at > now() THEN 'running'
                    WHEN msg.state = 'ready' OR msg.visible_at <= now() THEN 'waiting'
                    ELSE 'backoff' END AS phase,
               -- Only needed (and only paid for) once the execution's deadline has passed.
               CASE WHEN e.deadline <= now() THEN message_is_alive(msg) END AS alive
        FROM messages AS msg
        WHERE msg.execution_id = e.id
    ) AS x
) AS m
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE x.status = 'armed') AS armed,
        max(greatest(x.created_at, x.last_completed_at, x.fired_at, x.finalized_at)) AS last_activity
    FROM barriers AS x
    WHERE x.execution_id = e.id
) AS b
-- The barrier the reason talks about: an armed one if any, else the latest.
LEFT JOIN LATERAL (
    SELECT x.* FROM barriers AS x
    WHERE x.execution_id = e.id
    ORDER BY x.status = 'armed' DESC, x.id DESC
    LIMIT 1
) AS lb ON true
CROSS JOIN LATERAL (
    SELECT greatest(e.updated_at, m.last_activity, b.last_activity) AS last_progress_at
) AS p
CROSS JOIN LATERAL (
    SELECT
        CASE
            WHEN e.status NOT IN ('pending', 'running') THEN
                format('%s at %s', e.status, date_trunc('second', e.finished_at)) || coalesce(': ' || e.error, '')
            WHEN m.running > 0 THEN
                format('%s message(s) running on queue(s) %s, held by %s', m.running, m.running_queues, m.holders)
            WHEN m.waiting > 0 AND EXISTS (SELECT FROM queues AS q WHERE q.name = ANY (m.waiting_queues) AND q.paused) THEN
                format('%s message(s) waiting on queue(s) %s, and a queue is paused: resume it',
                       m.waiting, array_to_string(m.waiting_queues, ', '))
            WHEN m.waiting > 0 THEN
                format('%s message(s) waiting on queue(s) %s but none leased: are workers running?',
                       m.waiting, array_to_string(m.waiting_queues, ', '))
                || CASE WHEN EXISTS (SELECT FROM workers AS w WHERE w.queues && m.waiting_queues AND worker_is_alive(w))
                        THEN '' ELSE ' (no live worker consumes them)' END
            WHEN m.backoff > 0 AND m.retrying THEN
                format('waiting for retry backoff until %s', date_trunc('second', m.next_visible_at))
            WHEN m.backoff > 0 THEN
                format('%s message(s) delayed until %s', m.backoff, date_trunc('second', m.next_visible_at))
            -- From here on the execution has no message at all.
            WHEN lb.status = 'armed' THEN
                format('barrier %s armed with %s of %s members pending but their messages are gone: %s',
                       lb.name, lb.remaining, lb.expected,
                       CASE WHEN lb.deadline IS NULL THEN 'it has no deadline, so fail or cancel the execution'
                            WHEN lb.deadline <= now() THEN
                                format('its deadline %s has passed, so the next reaper pass expires it',
                                       date_trunc('second', lb.deadline))
                            ELSE format('the reaper expires it after its deadline %s', date_trunc('second', lb.deadline))
                       END)
            WHEN lb.status IN ('fired', 'failed') AND lb.finalized_at IS NULL THEN
                format('barrier %s %s at %s but its callback (message %s) is gone and never finalized',
                       lb.name, lb.status, date_trunc('second', lb.fired_at), lb.callback_message_id)
            WHEN lb.finalized_at IS NOT NULL THEN
                format('no messages left and no barrier armed: nothing will move it (the callback of barrier %s '
                       'finished at %s without finishing the execution or starting another stage)',
                       lb.name, date_trunc('second', lb.finalized_at))
            ELSE 'no messages left and no barrier armed: nothing will move it'
        END AS why,
        -- The execution's own deadline, judged as reap() does (message_is_alive).
        CASE
            WHEN e.status NOT IN ('pending', 'running') OR e.deadline IS NULL OR e.deadline > now() THEN ''
            WHEN m.alive THEN
                format('; its deadline %s has passed, but the reaper spares it while work is running or in retry',
                       date_trunc('second', e.deadline))
            ELSE format('; its deadline %s has passed: the next reaper pass fails it', date_trunc('second', e.deadline))
        END AS deadline_note
) AS r;

COMMENT ON VIEW execution_activity IS 'Every execution with its pending work, when it last made progress and a sentence saying why it is not finished. Filter by id or status: unfiltered it visits every execution.';
COMMENT ON COLUMN execution_activity.id IS 'Execution id.';
COMMENT ON COLUMN execution_activity.pipeline IS 'Its pipeline.';
COMMENT ON COLUMN execution_activity.status IS 'pending, running, completed, failed or canceled.';
COMMENT ON COLUMN execution_activity.stage IS 'Its current stage (the last barrier armed).';
COMMENT ON COLUMN execution_activity.age IS 'Time since it was created.';
COMMENT ON COLUMN execution_activity.last_progress_at IS 'The latest of: its own last change, its barriers being armed, completing a member, firing or finalizing, and its messages being sent or delivered.';
COMMENT ON COLUMN execution_activity.quiet_for IS 'Time since last_progress_at.';
COMMENT ON COLUMN execution_activity.messages_leased IS 'Its messages held by a worker under an unexpired lease (being worked on).';
COMMENT ON COLUMN execution_activity.messages_waiting IS 'Its messages readable now: ready, due delayed ones, and leases that ran out.';
COMMENT ON COLUMN execution_activity.messages_in_backoff IS 'Its delayed messages not yet due (retry backoff, or a send delay).';
COMMENT ON COLUMN execution_activity.next_visible_at IS 'When the first of messages_in_backoff becomes readable.';
COMMENT ON COLUMN execution_activity.barriers_armed IS 'Its barriers still counting members.';
COMMENT ON COLUMN execution_activity.deadline IS 'Its deadline: after it the reaper fails it unless some of its work is alive.';
COMMENT ON COLUMN execution_activity.reason IS 'Why it is not finished (or how it finished), as a sentence: what it waits for, or that nothing will move it.';

-- Open executions nothing is working on: no message of theirs under a live lease, and no
-- progress for quiet_for. Longest quiet first.
CREATE FUNCTION stuck_executions(quiet_for interval DEFAULT '5 minutes')
RETURNS TABLE (
    id                  uuid,
    pipeline            text,
    status              text,
    stage               text,
    age                 interval,
    last_progress_at    timestamptz,
    quiet_for           interval,
    messages_waiting    bigint,
    messages_in_backoff bigint,
    barriers_armed      bigint,
    deadline            timestamptz,
    reason              text
)
LANGUAGE sql STABLE SET search_path FROM CURRENT
BEGIN ATOMIC
    SELECT a.id, a.pipeline, a.status, a.stage, a.age, a.last_progress_at, a.quiet_for,
           a.messages_waiting, a.messages_in_backoff, a.barriers_armed, a.deadline, a.reason
    FROM execution_activity AS a
    WHERE a.status IN ('pending', 'running')
      AND a.messages_leased = 0
      AND a.quiet_for >= stuck_executions.quiet_for
    ORDER BY a.last_progress_at, a.id;
END;

COMMENT ON FUNCTION stuck_executions(interval) IS
    'Pending or running executions with no message under a live lease and no progress for quiet_for (default 5 minutes), '
    'quietest first: id, pipeline, status, stage, age, last_progress_at, quiet_for, messages_waiting, messages_in_backoff, '
    'barriers_armed, deadline, and reason (why nothing moves: workers not running, a paused queue, a retry backoff, '
    'a barrier whose members'' messages are gone, or nothing left to move it). Columns as in execution_activity.';

-- What happened to one execution, oldest first. Each kind of event is cut to its first 20
-- (a fan-out can fail thousands of members), followed by one "(more)" row counting the rest.
-- Barriers record no expiry time: an expired barrier is placed at its execution's finish
-- (the reaper fails both in one statement) or at its deadline, whichever is later.
-- An open execution ends with a "not finished" row at now() saying why (execution_activity).
-- An unknown id returns no rows.
CREATE FUNCTION execution_timeline(execution_id uuid)
RETURNS TABLE (at timestamptz, event text, detail text)
LANGUAGE sql STABLE SET search_path FROM CURRENT
BEGIN ATOMIC
    WITH e AS (
        SELECT x.* FROM executions AS x WHERE x.id = execution_timeline.execution_id
    ),
    b AS (
        SELECT x.* FROM barriers AS x JOIN e ON x.execution_id = e.id
    ),
    -- seq orders events that share a timestamp (one transaction often does several things).
    events (at, seq, event, detail) AS (
        SELECT e.created_at, 1, 'created',
               format('pipeline %s', e.pipeline) || coalesce(', key ' || e.idempotency_key, '')
               || coalesce(', deadline ' || date_trunc('second', e.deadline), '')
               || coalesce(', input ' || left(e.input_summary::text, 200), '')
        FROM e
        UNION ALL
        SELECT c.claimed_at, 2, 'step claimed', format('%s by %s (token %s)', c.name, c.holder, c.token)
        FROM claims AS c JOIN e ON c.execution_id = e.id
        UNION ALL
        SELECT b.created_at, 3, 'barrier armed',
               format('%s (barrier %s): %s members, %s, callback %s on %s', b.name, b.id, b.expected, b.on_failure,
                      b.callback_task, b.callback_queue)
               || coalesce(', deadline ' || date_trunc('second', b.deadline), '')
        FROM b
        UNION ALL
        SELECT d.dead_at, 4, 'dead letter',
               format('message %s (%s) on %s: %s after %s deliveries: %s', d.id, coalesce(d.task, 'no task'), d.queue,
                      d.reason, d.read_ct, coalesce(d.last_error, 'no error recorded'))
        FROM dead_letters AS d JOIN e ON d.execution_id = e.id
        UNION ALL
        SELECT bm.completed_at, 5, 'member failed',
               format('%s / %s: %s', b.name, bm.member_key, coalesce(bm.error, 'no error recorded'))
        FROM barrier_members AS bm JOIN b ON bm.barrier_id = b.id
        WHERE bm.status = 'failed'
        UNION ALL
        SELECT b.fired_at, 6, 'barrier ' || b.status,
               format('%s: %s of %s members done, %s failed; callback message %s', b.name, b.expected - b.remaining,
                      b.expected, b.failed, b.callback_message_id)
        FROM b
        WHERE b.status IN ('fired', 'failed')
        UNION ALL
        SELECT greatest(b.deadline, e.finished_at), 6, 'barrier expired',
               format('%s: the reaper gave up after its deadline with %s of %s members missing', b.name, b.remaining,
                      b.expected)
        FROM b JOIN e ON true
        WHERE b.status = 'expired'
        UNION ALL
        SELECT b.finalized_at, 7, 'callback finalized', format('%s: %s done', b.name, b.callback_task)
        FROM b
        UNION ALL
        SELECT c.finished_at, 8, 'step finished', format('%s by %s (tombstone)', c.name, c.holder)
        FROM claims AS c JOIN e ON c.execution_id = e.id
        UNION ALL
        SELECT e.finished_at, 9, e.status, coalesce(e.error, format('stage %s', coalesce(e.stage, 'none')))
        FROM e
        WHERE e.finished_at IS NOT NULL
        UNION ALL
        SELECT now(), 9, 'not finished', format('%s, stage %s: %s', a.status, coalesce(a.stage, 'none'), a.reason)
        FROM execution_activity AS a JOIN e ON a.id = e.id
        WHERE e.status IN ('pending', 'running')
    ),
    ranked AS (
        SELECT ev.*,
               row_number() OVER (PARTITION BY ev.event ORDER BY ev.at, ev.detail) AS n,
               count(*) OVER (PARTITION BY ev.event) AS total
        FROM events AS ev
        WHERE ev.at IS NOT NULL
    )
    SELECT r.at, r.event, r.detail
    FROM (
        SELECT k.at, k.seq, k.event, k.detail FROM ranked AS k WHERE k.n <= 20
        UNION ALL
        SELECT max(k.at), k.seq, k.event || ' (more)', format('%s more not shown', k.total - 20)
        FROM ranked AS k
        WHERE k.n > 20
        GROUP BY k.seq, k.event, k.total
    ) AS r
    ORDER BY r.at, r.seq, r.event, r.detail;
END;

COMMENT ON FUNCTION execution_timeline(uuid) IS
    'What happened to one execution, in time order, as (at, event, detail): created, steps claimed and finished, barriers '
    'armed, fired, failed or expired, callbacks finalized, dead letters, failed members (20 of each kind at most, then a '
    '"(more)" row), and its terminal status with the error, or a final "not finished" row saying why. Empty for an unknown id.';

CREATE VIEW dead_letter_summary AS
SELECT
    g.queue,
    g.task,
    g.reason,
    g.dead,
    g.executions,
    g.without_error,
    g.max_read_ct,
    g.first_dead_at,
    g.last_dead_at,
    -- The most recent recorded error of the group, found backwards through dead_letters_queue.
    (SELECT d.last_error FROM dead_letters AS d
     WHERE d.queue = g.queue AND d.task IS NOT DISTINCT FROM g.task AND d.reason = g.reason
       AND d.last_error IS NOT NULL
     ORDER BY d.dead_at DESC, d.id DESC
     LIMIT 1) AS last_error
FROM (
    SELECT
        d.queue,
        d.task,
        d.reason,
        count(*) AS dead,
        count(DISTINCT d.execution_id) AS executions,
        count(*) FILTER (WHERE d.last_error IS NULL) AS without_error,
        max(d.read_ct) AS max_read_ct,
        min(d.dead_at) AS first_dead_at,
        max(d.dead_at) AS last_dead_at
    FROM dead_letters AS d
    GROUP BY d.queue, d.task, d.reason
) AS g;

COMMENT ON VIEW dead_letter_summary IS 'Dead letters grouped by queue, task and reason: which messages keep failing, how often, since when, and the latest error.';
COMMENT ON COLUMN dead_letter_summary.queue IS 'The queue.';
COMMENT ON COLUMN dead_letter_summary.task IS 'The task (NULL for messages sent without one).';
COMMENT ON COLUMN dead_letter_summary.reason IS 'Why they were dead-lettered: max_attempts (poison), non_retryable, explicit, ...';
COMMENT ON COLUMN dead_letter_summary.dead IS 'Dead letters in the group.';
COMMENT ON COLUMN dead_letter_summary.executions IS 'Distinct executions they belong to (each one was failed, or its barrier counted a failed member).';
COMMENT ON COLUMN dead_letter_summary.without_error IS 'Dead letters with no recorded error: every delivery died without reporting one (crashes, kills, lost connections).';
COMMENT ON COLUMN dead_letter_summary.max_read_ct IS 'Most deliveries any of them took.';
COMMENT ON COLUMN dead_letter_summary.first_dead_at IS 'When the first of them was dead-lettered.';
COMMENT ON COLUMN dead_letter_summary.last_dead_at IS 'When the latest of them was dead-lettered.';
COMMENT ON COLUMN dead_letter_summary.last_error IS 'The most recent recorded error in the group (NULL when none recorded one).';

-- What reap() would do if it ran now, one row per kind of work, with the same conditions
-- (a pass handles at most its batch_size, default 1000, of each kind). Tombstones use reap()'s
-- default retention of 7 days. Two rows are not reaper work: expired_leases (taken back by the
-- next read of their queue) and leader (who would run the pass).
CREATE VIEW reaper_outlook AS
WITH overdue_barriers AS (
    SELECT x.id, x.name, x.execution_id, x.deadline,
           EXISTS (SELECT FROM barrier_members AS bm JOIN messages AS m ON m.id = bm.message_id
                   WHERE bm.barrier_id = x.id AND bm.status = 'pending' AND message_is_alive(m)) AS spared
    FROM barriers AS x
    WHERE x.status = 'armed' AND x.deadline <= now()
),
overdue_executions AS (
    SELECT x.id,
           EXISTS (SELECT FROM messages AS m WHERE m.execution_id = x.id AND message_is_alive(m)) AS spared
    FROM executions AS x
    WHERE x.status IN ('pending', 'running') AND x.deadline <= now()
)
SELECT 'expired_barriers' AS action,
       count(*) FILTER (WHERE NOT o.spared) AS due,
       format('armed barriers past their deadline with no pending member running or in retry: expired, and their '
              'executions failed; %s more past their deadline are spared (a member is alive)%s',
              count(*) FILTER (WHERE o.spared),
              coalesce('; first: ' || array_to_string((array_agg(format('%s (execution %s)', o.name, o.execution_id)
                                                                   ORDER BY o.deadline) FILTER (WHERE NOT o.spared))[1:5], ', '),
                       '')) AS detail
FROM overdue_barriers AS o
UNION ALL
SELECT 'expired_executions',
       count(*) FILTER (WHERE NOT o.spared),
       format('pending or running executions past their deadline with no message running or in retry: failed; '
              '%s more past their deadline are spared (some work is alive)', count(*) FILTER (WHERE o.spared))
FROM overdue_executions AS o
UNION ALL
SELECT 'expired_claims',
       count(*),
       'held orchestration claims past expires_at (their holder died): deleted; a retry could take them over anyway'
FROM claims AS c
WHERE c.state = 'held' AND c.expires_at <= now()
UNION ALL
SELECT 'tombstones',
       count(*),
       'finished claims older than 7 days of executions that are terminal or gone: deleted (the terminal status still '
       'stops redelivered orchestration messages)'
FROM claims AS c
WHERE c.state = 'finished' AND c.finished_at < now() - interval '7 days'
  AND NOT EXISTS (SELECT FROM executions AS e WHERE e.id = c.execution_id AND e.status IN ('pending', 'running'))
UNION ALL
SELECT 'retention',
       r.archived + r.dead + r.keys,
       format('past their queue''s retention: %s archived messages, %s dead letters; past the dedup window: %s dedup keys',
              r.archived, r.dead, r.keys)
FROM (
    SELECT
        (SELECT count(*) FROM archive AS a JOIN queues AS q ON q.name = a.queue
         WHERE a.archived_at < now() - q.retention) AS archived,
        (SELECT count(*) FROM dead_letters AS d JOIN queues AS q ON q.name = d.queue
         WHERE d.dead_at < now() - q.retention) AS dead,
        (SELECT count(*) FROM message_keys AS k JOIN queues AS q ON q.name = k.queue
         WHERE k.created_at < now() - q.dedup_window) AS keys
) AS r
UNION ALL
SELECT 'executions',
       count(*),
       'finished executions past the default 30-day retention that no message or dead letter points at: deleted with '
       'their barriers and members (sweep_executions, 0006; the leader''s ReaperOptions.executionRetention decides)'
FROM executions AS e
WHERE e.status IN ('completed', 'failed', 'canceled')
  AND e.created_at < now() - interval '30 days' AND e.finished_at < now() - interval '30 days'
  AND NOT EXISTS (SELECT FROM messages AS m WHERE m.execution_id = e.id)
  AND NOT EXISTS (SELECT FROM dead_letters AS d WHERE d.execution_id = e.id)
UNION ALL
SELECT 'stale_workers',
       count(*),
       'worker rows without a heartbeat for a day: deleted'
FROM workers AS w
WHERE w.last_heartbeat_at < now() - interval '1 day'
UNION ALL
SELECT 'expired_leases',
       count(*),
       'not reaper work: leases that ran out (holder died or stalled) are taken back by the next read() of their queue'
       || coalesce(' (' || string_agg(DISTINCT m.queue, ', ') || ')', '')
FROM messages AS m
WHERE m.state = 'leased' AND m.visible_at <= now()
UNION ALL
SELECT 'leader',
       coalesce(l.expires_at > now(), false)::integer::bigint,
       CASE
           WHEN l.name IS NULL THEN
               'no reaper holds the lease: none has run yet, or the last one resigned; start a worker or muster reaper'
           WHEN l.expires_at > now() THEN
               format('held by %s (token %s) since %s, renewed %s, expires %s', l.holder, l.token,
                      date_trunc('second', l.acquired_at), date_trunc('second', l.renewed_at),
                      date_trunc('second', l.expires_at))
           ELSE
               format('expired at %s (last held by %s, token %s): no reaper is running, or the next one has not taken over yet',
                      date_trunc('second', l.expires_at), l.holder, l.token)
       END
FROM (VALUES ('reaper')) AS v (name)
LEFT JOIN leader_leases AS l ON l.name = v.name;

COMMENT ON VIEW reaper_outlook IS 'What the next reaper pass would act on now, one row per kind (at most batch_size of each per pass), plus expired leases (taken back by reads, not the reaper) and the current reaper leader.';
COMMENT ON COLUMN reaper_outlook.action IS 'expired_barriers, expired_executions, expired_claims, tombstones, retention, executions, stale_workers, expired_leases or leader.';
COMMENT ON COLUMN reaper_outlook.due IS 'Rows the next pass would act on (for leader: 1 when a reaper holds an unexpired lease, else 0).';
COMMENT ON COLUMN reaper_outlook.detail IS 'What the action does, with spared rows, samples, or the leader''s name and lease expiry.';
