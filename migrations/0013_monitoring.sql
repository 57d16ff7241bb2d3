-- Monitoring: what `muster metrics` exports and the dashboard shows, at a cost bounded
-- whatever the size of the history tables (docs/operations.md ## Monitoring).
--
-- Every count a scrape takes walks an index and stops at `cap` rows (100,000 by default):
-- below the cap it is exact; at the cap it becomes the planner's estimate (never below the
-- cap) and the snapshot says so (`estimated` = true). Nothing here counts a whole history
-- table, and nothing adds work to the statements that send, read or settle messages.
--
-- Objects:
--   barriers_armed, executions_status, executions_pipeline   indexes the bounded reads walk
--   barrier_members.trace                                    a member handler's trace context
--   estimated_rows(text)                                     the planner's row estimate of a query
--   capped_count(text, integer)                              exact count up to a cap, estimate above
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

-- The planner's estimate of how many rows `query` returns (EXPLAIN, nothing is run).
-- Volatile (the default): PostgreSQL runs no EXPLAIN inside a stable function.
CREATE FUNCTION estimated_rows(query text) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$;

COMMENT ON FUNCTION estimated_rows(text) IS 'The planner''s row estimate for a query, from EXPLAIN (the query is not run).';

-- How many rows `query` returns, counting at most `cap`: exact below the cap, the planner's
-- estimate (at least the cap) at it. `query` must be a SELECT the caller built from trusted
-- parts (metrics_snapshot quotes every value with format()).
CREATE FUNCTION capped_count(query text, cap integer, OUT n bigint, OUT estimated boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) AS capped', query, cap) INTO n;
    estimated := n >= cap;
    IF estimated THEN
        n := greatest(n, estimated_rows(query));
    END IF;
END
$$;

COMMENT ON FUNCTION capped_count(text, integer) IS 'Counts a query''s rows up to cap (exact below it); at the cap returns the planner''s estimate, never below cap, with estimated = true.';

-- Every database-side metric, one row each: the metric's name (without the muster_ prefix
-- the exporter adds), its labels as a JSON object, its value, and whether the value is an
-- estimate. Read-only, takes no locks beyond a plain SELECT's.
CREATE FUNCTION metrics_snapshot(cap integer DEFAULT 100000)
RETURNS TABLE (metric text, labels jsonb, value double precision, estimated boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    q      queues;
    c      record;
    status text;
    oldest timestamptz;
BEGIN
    IF cap IS NULL OR cap NOT BETWEEN 1 AND 100000000 THEN
        RAISE EXCEPTION 'cap must be between 1 and 100000000, got %', cap USING ERRCODE = 'MU003';
    END IF;

    FOR q IN SELECT * FROM queues ORDER BY name LOOP
        labels := jsonb_build_object('queue', q.name);

        -- Ready rows through messages_ready; due delayed ones through messages_pending.
        SELECT * INTO c FROM capped_count(format('SELECT 1 FROM messages WHERE queue = %L AND state = ''ready''', q.name), cap);
        metric := 'queue_ready'; value := c.n; estimated := c.estimated;
        SELECT * INTO c FROM capped_count(format(
            'SELECT 1 FROM messages WHERE queue = %L AND state = ''delayed'' AND visible_at <= now()', q.name), cap);
        value := value + c.n; estimated := estimated OR c.estimated;
        RETURN NEXT;

        metric := 'queue_delayed';
        SELECT x.n, x.estimated INTO value, estimated FROM capped_count(format(
            'SELECT 1 FROM messages WHERE queue = %L AND state = ''delayed'' AND visible_at > now()', q.name), cap) AS x;
        RETURN NEXT;

        metric := 'queue_leased';
        SELECT x.n, x.estimated INTO value, estimated FROM capped_count(format(
            'SELECT 1 FROM messages WHERE queue = %L AND state = ''leased'' AND visible_at > now()', q.name), cap) AS x;
        RETURN NEXT;

        metric := 'queue_expired_leases';
        SELECT x.n, x.estimated INTO value, estimated FROM capped_count(format(
            'SELECT 1 FROM messages WHERE queue = %L AND state = ''leased'' AND visible_at <= now()', q.name), cap) AS x;
        RETURN NEXT;

        metric := 'queue_dead';
        SELECT x.n, x.estimated INTO value, estimated FROM capped_count(format(
            'SELECT 1 FROM dead_letters WHERE queue = %L', q.name), cap) AS x;
        RETURN NEXT;

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
        value := coalesce(extract(epoch FROM now() - oldest), 0); estimated := false;
        RETURN NEXT;

        metric := 'queue_paused'; value := q.paused::integer; RETURN NEXT;
    END LOOP;

    labels := '{}';
    estimated := false;
    FOREACH status IN ARRAY ARRAY['pending', 'running', 'completed', 'failed', 'canceled'] LOOP
        metric := 'executions';
        labels := jsonb_build_object('status', status);
        SELECT x.n, x.estimated INTO value, estimated FROM capped_count(format(
            'SELECT 1 FROM executions WHERE status = %L', status), cap) AS x;
        RETURN NEXT;
    END LOOP;

    labels := '{}';
    metric := 'barriers_open';
    SELECT x.n, x.estimated INTO value, estimated FROM capped_count('SELECT 1 FROM barriers WHERE status = ''armed''', cap) AS x;
    RETURN NEXT;
    metric := 'barriers_oldest_open_age_seconds';
    SELECT coalesce(extract(epoch FROM now() - min(b.created_at)), 0) INTO value FROM barriers AS b WHERE b.status = 'armed';
    estimated := false;
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
END
$$;

COMMENT ON FUNCTION metrics_snapshot(integer) IS 'Every database-side metric (queue depths by state, dead letters, oldest ready age, executions by status, open barriers, workers alive, reaper leader) at bounded cost: counts stop at cap and become planner estimates there.';
