-- Monitoring: what `muster metrics` exports and the dashboard shows, at a cost bounded
-- whatever the size of the history tables (docs/operations.md ## Monitoring).
--
-- Every count a scrape takes walks an index and stops at `cap` rows (10,000 by default):
-- below the cap it is exact; at the cap it becomes the planner's estimate (never below the
-- cap) and the snapshot says so (`estimated` = true). Nothing here counts a whole history
-- table, and nothing adds work to the statements that send, read or settle messages.
--
-- Objects:
--   barriers_armed, executions_status, executions_pipeline   indexes the bounded reads walk
--   barrier_members.trace                                    a member handler's trace context
--   horizon_holders                                          what holds back vacuum's xmin horizon
--   metrics_snapshot(integer)                                every database-side metric, one row each

-- Open barriers and their age: the index holds only armed ones (few), in age order. Neither
-- column changes while members complete, so those updates stay HOT-eligible as before.
CREATE INDEX barriers_armed ON barriers (created_at) WHERE status = 'armed';
COMMENT ON INDEX barriers_armed IS 'Armed barriers by age: the open-barrier count and oldest age without scanning barrier history.';

-- Executions by status and by pipeline, newest first: the dashboard's keyset pages and the
-- per-status counts walk these instead of the whole table. status already changes indexes
-- (executions_open's predicate), so this costs its changes no HOT update.
CREATE INDEX executions_status ON executions (status, created_at, id);
CREATE INDEX executions_pipeline ON executions (pipeline, created_at, id);
COMMENT ON INDEX executions_status IS 'Executions of one status, newest first (dashboard pages, metrics counts).';
COMMENT ON INDEX executions_pipeline IS 'Executions of one pipeline, newest first (dashboard filter).';

ALTER TABLE barrier_members ADD COLUMN trace jsonb;
COMMENT ON COLUMN barrier_members.trace IS 'Trace context of the handler span that completed the member (written only when a tracer is configured); the callback''s span links to these.';

-- What holds back the xmin horizon: while any of these is old, vacuum can remove no row
-- version that died after it began, in any table, and every queue read walks the dead index
-- entries of what was handed out since (docs/operations.md ## Held snapshots and bloat).
CREATE VIEW horizon_holders AS
SELECT 'session' AS kind, a.pid::text AS holder, a.usename::text AS role, a.application_name,
       a.client_addr::text AS client, a.state, age(a.backend_xmin) AS xmin_age,
       now() - a.xact_start AS transaction_age, left(a.query, 200) AS query
FROM pg_stat_activity AS a
WHERE a.backend_xmin IS NOT NULL AND a.pid <> pg_backend_pid()
UNION ALL
SELECT 'standby feedback', r.pid::text, r.usename::text, r.application_name, r.client_addr::text, r.state,
       age(r.backend_xmin), NULL, NULL
FROM pg_stat_replication AS r
WHERE r.backend_xmin IS NOT NULL
UNION ALL
SELECT 'replication slot', s.slot_name::text, NULL, NULL, NULL, CASE WHEN s.active THEN 'active' ELSE 'inactive' END,
       greatest(age(s.xmin), age(s.catalog_xmin)), NULL, NULL
FROM pg_replication_slots AS s
WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
UNION ALL
SELECT 'prepared transaction', p.gid, p.owner::text, NULL, NULL, 'prepared', age(p.transaction), now() - p.prepared, NULL
FROM pg_prepared_xacts AS p;

COMMENT ON VIEW horizon_holders IS 'Sessions, standbys (hot_standby_feedback), replication slots and prepared transactions holding back the xmin horizon, oldest first when ordered by xmin_age: what keeps vacuum from removing dead rows.';
COMMENT ON COLUMN horizon_holders.kind IS 'session, standby feedback, replication slot or prepared transaction.';
COMMENT ON COLUMN horizon_holders.holder IS 'Backend pid, slot name or prepared transaction gid.';
COMMENT ON COLUMN horizon_holders.role IS 'The role that owns it.';
COMMENT ON COLUMN horizon_holders.application_name IS 'The session''s application_name.';
COMMENT ON COLUMN horizon_holders.client IS 'The client address.';
COMMENT ON COLUMN horizon_holders.state IS 'Session state (idle in transaction is the usual culprit), slot activity, or prepared.';
COMMENT ON COLUMN horizon_holders.xmin_age IS 'How many transactions ago its horizon is: everything that died since cannot be vacuumed.';
COMMENT ON COLUMN horizon_holders.transaction_age IS 'How long its transaction has been open.';
COMMENT ON COLUMN horizon_holders.query IS 'The session''s current or last statement (first 200 characters).';

-- Every database-side metric, one row each: the metric's name (without the muster_ prefix
-- the exporter adds), its labels as a JSON object, its value, and whether the value is an
-- estimate; with only_queue, the per-queue rows of that queue alone. Read-only.
--
-- Each count walks an index and stops at `cap` rows: exact below the cap; at it, the
-- planner's row estimate (EXPLAIN of the same question, nothing run), never below the cap.
-- A queue's waiting and leased rows are walked twice in all, through messages_pending: once
-- for those due later (delayed, leased), once for those due now (due delayed, expired
-- leases); ready rows through messages_ready. The EXPLAINed queries are built here from
-- names quoted with format(%L); no caller's text is ever run. Volatile (the default):
-- PostgreSQL runs no EXPLAIN inside a stable function.
CREATE FUNCTION metrics_snapshot(cap integer DEFAULT 10000, only_queue text DEFAULT NULL)
RETURNS TABLE (metric text, labels jsonb, value double precision, estimated boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    q       queues;
    ready   bigint;
    later   record;
    due     record;
    dead    bigint;
    item    record;
    plan    jsonb;
    oldest  timestamptz;
BEGIN
    IF cap IS NULL OR cap NOT BETWEEN 1 AND 100000000 THEN
        RAISE EXCEPTION 'cap must be between 1 and 100000000, got %', cap USING ERRCODE = 'MU003';
    END IF;

    FOR q IN SELECT * FROM queues AS qs WHERE only_queue IS NULL OR qs.name = only_queue ORDER BY qs.name LOOP
        labels := jsonb_build_object('queue', q.name);
        SELECT count(*) INTO ready FROM (
            SELECT 1 FROM messages AS m WHERE m.queue = q.name AND m.state = 'ready' LIMIT cap) AS capped;
        SELECT count(*) AS n, count(*) FILTER (WHERE capped.state = 'delayed') AS delayed,
               count(*) FILTER (WHERE capped.state = 'leased') AS leased
        INTO later FROM (
            SELECT m.state FROM messages AS m
            WHERE m.queue = q.name AND m.state <> 'ready' AND m.visible_at > now() LIMIT cap) AS capped;
        SELECT count(*) AS n, count(*) FILTER (WHERE capped.state = 'delayed') AS delayed,
               count(*) FILTER (WHERE capped.state = 'leased') AS leased
        INTO due FROM (
            SELECT m.state FROM messages AS m
            WHERE m.queue = q.name AND m.state <> 'ready' AND m.visible_at <= now() LIMIT cap) AS capped;
        SELECT count(*) INTO dead FROM (SELECT 1 FROM dead_letters AS d WHERE d.queue = q.name LIMIT cap) AS capped;

        FOR item IN SELECT * FROM (VALUES
            ('queue_ready', ready + due.delayed, ready >= cap OR due.n >= cap, format(
                'SELECT 1 FROM messages WHERE queue = %1$L AND state = ''ready'' '
                'UNION ALL SELECT 1 FROM messages WHERE queue = %1$L AND state = ''delayed'' AND visible_at <= now()', q.name)),
            ('queue_delayed', later.delayed, later.n >= cap, format(
                'SELECT 1 FROM messages WHERE queue = %L AND state = ''delayed'' AND visible_at > now()', q.name)),
            ('queue_leased', later.leased, later.n >= cap, format(
                'SELECT 1 FROM messages WHERE queue = %L AND state = ''leased'' AND visible_at > now()', q.name)),
            ('queue_expired_leases', due.leased, due.n >= cap, format(
                'SELECT 1 FROM messages WHERE queue = %L AND state = ''leased'' AND visible_at <= now()', q.name)),
            ('queue_dead', dead, dead >= cap, format('SELECT 1 FROM dead_letters WHERE queue = %L', q.name))
        ) AS x(metric, n, capped, query) LOOP
            metric := item.metric;
            value := item.n;
            estimated := item.capped;
            IF estimated THEN
                EXECUTE 'EXPLAIN (FORMAT JSON) ' || item.query INTO plan;
                value := greatest(value, cap, (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
            END IF;
            RETURN NEXT;
        END LOOP;

        -- The oldest ready message: the head of each priority (a loose index scan over
        -- messages_ready, one probe per distinct priority) and the oldest due delayed one.
        WITH RECURSIVE priorities AS (
            (SELECT m.priority FROM messages AS m WHERE m.queue = q.name AND m.state = 'ready' ORDER BY m.priority LIMIT 1)
            UNION ALL
            SELECT (SELECT m.priority FROM messages AS m
                    WHERE m.queue = q.name AND m.state = 'ready' AND m.priority > p.priority
                    ORDER BY m.priority LIMIT 1)
            FROM priorities AS p WHERE p.priority IS NOT NULL
        )
        SELECT least(
            (SELECT min((SELECT m.visible_at FROM messages AS m
                         WHERE m.queue = q.name AND m.state = 'ready' AND m.priority = p.priority
                         ORDER BY m.id LIMIT 1))
             FROM priorities AS p WHERE p.priority IS NOT NULL),
            (SELECT m.visible_at FROM messages AS m
             WHERE m.queue = q.name AND m.state = 'delayed' AND m.visible_at <= now()
             ORDER BY m.visible_at LIMIT 1))
        INTO oldest;
        metric := 'queue_oldest_ready_age_seconds';
        value := coalesce(extract(epoch FROM now() - oldest), 0);
        estimated := false;
        RETURN NEXT;

        metric := 'queue_paused'; value := q.paused::integer; RETURN NEXT;
    END LOOP;

    FOR item IN
        SELECT 'executions' AS metric, jsonb_build_object('status', s.status) AS labels,
               format('SELECT 1 FROM executions WHERE status = %L', s.status) AS query,
               (SELECT count(*) FROM (SELECT 1 FROM executions AS e WHERE e.status = s.status LIMIT cap) AS capped) AS n
        FROM unnest(ARRAY['pending', 'running', 'completed', 'failed', 'canceled']) AS s(status)
        UNION ALL
        SELECT 'barriers_open', '{}', 'SELECT 1 FROM barriers WHERE status = ''armed''',
               (SELECT count(*) FROM (SELECT 1 FROM barriers AS b WHERE b.status = 'armed' LIMIT cap) AS capped)
    LOOP
        metric := item.metric;
        labels := item.labels;
        value := item.n;
        estimated := item.n >= cap;
        IF estimated THEN
            EXECUTE 'EXPLAIN (FORMAT JSON) ' || item.query INTO plan;
            value := greatest(value, (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
        END IF;
        RETURN NEXT;
    END LOOP;

    labels := '{}';
    estimated := false;
    metric := 'barriers_oldest_open_age_seconds';
    SELECT coalesce(extract(epoch FROM now() - min(b.created_at)), 0) INTO value FROM barriers AS b WHERE b.status = 'armed';
    RETURN NEXT;

    -- Alive workers beat within their queues' longest visibility timeout (at least a minute):
    -- the heartbeat index bounds the walk to the rows that beat within the longest one.
    metric := 'workers_alive';
    SELECT count(*) INTO value FROM workers AS w
    WHERE w.last_heartbeat_at > now() - greatest(interval '1 minute', (SELECT max(visibility_timeout) FROM queues))
      AND worker_is_alive(w);
    RETURN NEXT;

    metric := 'reaper_leader';
    SELECT count(*) INTO value FROM leader_leases AS l WHERE l.name = 'reaper' AND l.expires_at > now();
    RETURN NEXT;

    metric := 'xmin_horizon_age';
    SELECT coalesce(max(h.xmin_age), 0) INTO value FROM horizon_holders AS h;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION metrics_snapshot(integer, text) IS 'Every database-side metric (queue depths by state, dead letters, oldest ready age, executions by status, open barriers, workers alive, reaper leader, xmin horizon age) at bounded cost: counts stop at cap and become planner estimates there.';
