-- Barrier members in partitions: barrier_members (one row per part of a fan-out, by far the
-- largest thing an execution leaves behind) is partitioned by RANGE (barrier_id), so that the
-- members of expired executions go by dropping a partition instead of row by row.
--
-- Why barrier ids and not a timestamp: barrier ids only grow, so a range of them is a range of
-- arming times, and every statement that touches a member already names its barrier id
-- (complete_member, fan_out, the reaper's checks, people's joins): each finds its partition by
-- pruning, with no new column and no extra lookup on the hot path. The reaper sizes each range
-- to a quarter of its execution retention (at least a day) of barriers, at the rate it has seen
-- (ensure_member_partitions).
--
-- Layout after this migration:
--   barrier_members_<first barrier id>  a range of barrier ids, created ahead by the reaper
--   barrier_members_legacy              the rows from before this migration (only when there
--                                       were any), attached as they were, no copy
--   barrier_members_default             members of barriers outside every range (a reaper that
--                                       did not run while ids passed the last range)
--
-- A range (or the legacy partition) is dropped once every barrier id in it has been handed out
-- and every barrier in it belongs to an execution sweep_executions would delete now (terminal,
-- finished before the retention, no message or dead letter left): exactly the members the row
-- sweep would have deleted, gone at once; the row sweep now leaves members in ranges to the drop.
-- A member is kept at least its execution's retention, at most one range's span longer. The
-- executions, barriers and claims themselves (a row per execution or stage) stay row-swept.

-- The views and SQL-body functions bound to the old table would follow its rename to the
-- legacy partition: their definitions are taken now and applied again once the new table exists.
CREATE TEMPORARY TABLE member_dependents ON COMMIT DROP AS
SELECT DISTINCT 'CREATE OR REPLACE VIEW ' || quote_ident(c.relname) || ' AS ' || pg_get_viewdef(c.oid) AS definition
FROM pg_depend AS d
JOIN pg_rewrite AS r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
JOIN pg_class AS c ON c.oid = r.ev_class AND c.relkind = 'v'
WHERE d.refobjid = 'barrier_members'::regclass
UNION
SELECT DISTINCT pg_get_functiondef(p.oid)
FROM pg_depend AS d
JOIN pg_proc AS p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE d.refobjid = 'barrier_members'::regclass;

DO $$
DECLARE
    -- Above every barrier id handed out and every member row (members have no foreign key).
    legacy_end bigint := greatest(
        coalesce(pg_sequence_last_value(pg_get_serial_sequence('barriers', 'id')::regclass), 0),
        coalesce((SELECT max(m.barrier_id) FROM barrier_members AS m), 0)) + 1;
    dependent record;
BEGIN
    ALTER TABLE barrier_members RENAME TO barrier_members_legacy;
    ALTER INDEX barrier_members_pkey RENAME TO barrier_members_legacy_pkey;
    CREATE TABLE barrier_members (LIKE barrier_members_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)
        PARTITION BY RANGE (barrier_id);
    ALTER TABLE barrier_members ADD PRIMARY KEY (barrier_id, member_key);
    CREATE TABLE barrier_members_default PARTITION OF barrier_members DEFAULT;

    IF EXISTS (SELECT FROM barrier_members_legacy) THEN
        -- Its primary key matches the new one, so it becomes the partition's index as it is.
        EXECUTE format('ALTER TABLE barrier_members ATTACH PARTITION barrier_members_legacy '
                       'FOR VALUES FROM (MINVALUE) TO (%s)', legacy_end);
    END IF;
    FOR dependent IN SELECT definition FROM member_dependents LOOP
        EXECUTE dependent.definition;
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'barrier_members_legacy'::regclass) THEN
        DROP TABLE barrier_members_legacy;
    END IF;
END
$$;

COMMENT ON TABLE barrier_members IS 'One row per member of a barrier; completing a member moves it out of pending exactly once. Partitioned by ranges of barrier_id (barrier_members_<first id>, each about a quarter of the execution retention of barriers; barrier_members_default, barrier_members_legacy): the reaper creates the next range ahead and drops a range once every execution of its barriers is swept (member_partitions).';

-- Every partition of barrier_members: its range of barrier ids and when those barriers were armed.
CREATE VIEW member_partitions AS
SELECT p.partition, p.kind, p.first_barrier, p.end_barrier,
       (SELECT b.created_at FROM barriers AS b
        WHERE b.id >= coalesce(p.first_barrier, 0) AND b.id < coalesce(p.end_barrier, 0)
        ORDER BY b.id LIMIT 1) AS first_armed_at,
       (SELECT b.created_at FROM barriers AS b
        WHERE b.id >= coalesce(p.first_barrier, 0) AND b.id < coalesce(p.end_barrier, 0)
        ORDER BY b.id DESC LIMIT 1) AS last_armed_at,
       pg_total_relation_size(p.partition) AS bytes
FROM (
    SELECT c.oid::regclass AS partition,
           CASE WHEN bound.expression = 'DEFAULT' THEN 'default'
                WHEN bound.expression LIKE '%MINVALUE%' THEN 'legacy'
                ELSE 'range' END AS kind,
           substring(bound.expression FROM 'FROM \(''?(-?[0-9]+)''?\)')::bigint AS first_barrier,
           substring(bound.expression FROM 'TO \(''?(-?[0-9]+)''?\)')::bigint AS end_barrier
    FROM pg_inherits AS i
    JOIN pg_class AS c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expression) AS bound
    WHERE i.inhparent = 'barrier_members'::regclass
) AS p;

COMMENT ON VIEW member_partitions IS 'Each partition of barrier_members: kind (range, legacy, default), the barrier ids it holds [first_barrier, end_barrier), when the first and last of those barriers were armed, and its size on disk.';
COMMENT ON COLUMN member_partitions.partition IS 'The partition table.';
COMMENT ON COLUMN member_partitions.kind IS 'range: barrier ids the reaper created it for; legacy: the members from before partitioning; default: members of barriers outside every range.';
COMMENT ON COLUMN member_partitions.first_barrier IS 'First barrier id it holds (NULL for legacy and default).';
COMMENT ON COLUMN member_partitions.end_barrier IS 'First barrier id it no longer holds (NULL for default).';
COMMENT ON COLUMN member_partitions.first_armed_at IS 'When the first barrier of its range that still exists was armed.';
COMMENT ON COLUMN member_partitions.last_armed_at IS 'When the last barrier of its range that still exists was armed.';
COMMENT ON COLUMN member_partitions.bytes IS 'Size with indexes and TOAST.';

-- How many barrier ids `span` of arming takes at the rate seen since the newest range began
-- (at least 1,000, at most 100,000,000, a multiple of 1,000): the width of the next range.
CREATE FUNCTION member_partition_width(span interval DEFAULT interval '1 day') RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
    since  bigint := (SELECT max(p.first_barrier) FROM member_partitions AS p WHERE p.kind = 'range');
    oldest barriers;
    newest barriers;
    rate   float8;
BEGIN
    IF span IS NULL OR span <= interval '0' THEN
        RAISE EXCEPTION 'member_partition_width: span must be a positive interval' USING ERRCODE = 'MU003';
    END IF;
    SELECT * INTO oldest FROM barriers AS b WHERE b.id >= coalesce(since, 0) ORDER BY b.id LIMIT 1;
    SELECT * INTO newest FROM barriers AS b ORDER BY b.id DESC LIMIT 1;
    IF oldest.id IS NULL OR newest.id <= oldest.id THEN
        RETURN 1000;
    END IF;
    -- Ids per second over at least an hour, so a burst right after a range began does not count for a day.
    rate := (newest.id - oldest.id) / greatest(extract(epoch FROM newest.created_at - oldest.created_at), 3600);
    RETURN least(greatest(ceil(rate * extract(epoch FROM span) / 1000) * 1000, 1000), 100000000)::bigint;
END
$$;

COMMENT ON FUNCTION member_partition_width(interval) IS 'The width (in barrier ids) of the next barrier_members range: span of arming at the rate seen since the newest range began; 1,000 to 100,000,000.';

-- Creates the next range of barrier_members once barrier ids have reached the newest one (or
-- when there is none), so a range nobody has reached yet is always waiting. It starts where
-- the newest ends, or past every id handed out and every member in the default partition when
-- ids have run past all ranges (PostgreSQL refuses a range the default holds rows of). `width`
-- overrides the estimate. A table another session holds a lock on for more than 200 ms is left
-- until the next sweep, so statements never queue behind the DDL's lock. Returns how many it
-- created (0 or 1).
CREATE FUNCTION ensure_member_partitions(span interval DEFAULT interval '1 day', width bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT SET lock_timeout = '200ms' AS $$
DECLARE
    handed_out bigint := coalesce(pg_sequence_last_value(pg_get_serial_sequence('barriers', 'id')::regclass), 0);
    top        bigint;
    start      bigint;
BEGIN
    IF width IS NOT NULL AND width NOT BETWEEN 1 AND 100000000 THEN
        RAISE EXCEPTION 'ensure_member_partitions: width must be between 1 and 100000000' USING ERRCODE = 'MU003';
    END IF;
    IF EXISTS (SELECT FROM member_partitions AS p WHERE p.kind = 'range' AND p.first_barrier > handed_out) THEN
        RETURN 0;
    END IF;
    width := coalesce(width, member_partition_width(span));
    top := (SELECT max(p.end_barrier) FROM member_partitions AS p WHERE p.kind <> 'default');
    start := greatest(coalesce(top, 1), handed_out + 1,
                      coalesce((SELECT max(m.barrier_id) FROM barrier_members_default AS m), 0) + 1);
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF barrier_members FOR VALUES FROM (%s) TO (%s)',
                       'barrier_members_' || start, start, start + width);
    EXCEPTION WHEN lock_not_available THEN
        RAISE DEBUG 'muster: barrier_members is in use; creating its next range at the next sweep';
        RETURN 0;
    END;
    RETURN 1;
END
$$;

COMMENT ON FUNCTION ensure_member_partitions(interval, bigint) IS 'Creates the next barrier_members range (about span of barriers, or width ids) once ids have reached the newest one; returns how many it created. The reaper calls it every sweep.';

-- Drops every range (and the legacy partition) of barrier_members whose ids have all been handed
-- out and whose barriers all belong to executions sweep_executions would delete at `as_of` with
-- `retention`. Its lock is taken before the final check, so no member can arrive in between; a
-- partition (or barrier_members) another session holds a lock on for more than 200 ms is left
-- until the next sweep. Returns each dropped partition and its rows.
CREATE FUNCTION drop_expired_member_partitions(retention interval, as_of timestamptz DEFAULT now())
RETURNS TABLE (partition text, row_count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT SET lock_timeout = '200ms' AS $$
#variable_conflict use_column
DECLARE
    handed_out bigint := coalesce(pg_sequence_last_value(pg_get_serial_sequence('barriers', 'id')::regclass), 0);
    p          record;
    held       bigint;
BEGIN
    IF retention IS NULL OR retention <= interval '0' OR as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'drop_expired_member_partitions: retention must be positive and as_of a finite time'
            USING ERRCODE = 'MU003';
    END IF;
    FOR p IN
        SELECT mp.partition, coalesce(mp.first_barrier, -9223372036854775808) AS first_barrier, mp.end_barrier
        FROM member_partitions AS mp
        WHERE mp.kind <> 'default' AND mp.end_barrier <= handed_out + 1
          -- Cheap first: its newest barrier was armed before the retention began.
          AND coalesce(mp.last_armed_at < as_of - retention, true)
        ORDER BY mp.end_barrier
    LOOP
        BEGIN
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p.partition);
            IF NOT EXISTS (
                SELECT FROM barriers AS b JOIN executions AS e ON e.id = b.execution_id
                WHERE b.id >= p.first_barrier AND b.id < p.end_barrier
                  AND NOT (e.status IN ('completed', 'failed', 'canceled') AND e.finished_at < as_of - retention
                           AND NOT EXISTS (SELECT FROM messages AS m WHERE m.execution_id = e.id)
                           AND NOT EXISTS (SELECT FROM dead_letters AS d WHERE d.execution_id = e.id)))
            THEN
                partition := p.partition::text;      -- its name: the oid says nothing once it is gone
                EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO held;
                EXECUTE format('DROP TABLE %s', p.partition);
                row_count := held;
                RETURN NEXT;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            RAISE DEBUG 'muster: % is in use; dropping it at the next sweep', p.partition;
        END;
    END LOOP;
END
$$;

COMMENT ON FUNCTION drop_expired_member_partitions(interval, timestamptz) IS 'Drops the barrier_members ranges (and legacy partition) whose barriers all belong to executions past retention that sweep_executions would delete at as_of; returns each with the rows it held. Skips a partition it cannot lock within 200 ms.';

-- The reaper's partition step gains the members, given the execution retention it sweeps
-- executions by. Each range is sized to a quarter of that retention (at least a day), so a
-- schema holds about six ranges whatever the retention: a generic plan of a statement on
-- barrier_members locks every partition, and a single completion measured about as fast with 7
-- partitions as with 2 but slower with 34 (operations.md ## Retention has the figures). Without
-- a retention (executions kept) members are never dropped, so no range is made: new members go
-- to the default partition.
DROP FUNCTION maintain_history_partitions(text, bigint);

CREATE FUNCTION maintain_history_partitions(holder text, token bigint, execution_retention interval DEFAULT NULL)
RETURNS TABLE (kind text, count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    created bigint;
    dropped bigint;
BEGIN
    PERFORM 1 FROM leader_leases AS l
    WHERE l.name = 'reaper' AND l.holder = maintain_history_partitions.holder
      AND l.token = maintain_history_partitions.token AND l.expires_at > now()
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    created := ensure_history_partitions();
    dropped := (SELECT coalesce(sum(d.row_count), 0) FROM drop_expired_history_partitions() AS d);
    IF execution_retention IS NOT NULL THEN
        created := created + ensure_member_partitions(greatest(interval '1 day', execution_retention / 4));
        dropped := dropped + (SELECT coalesce(sum(m.row_count), 0) FROM drop_expired_member_partitions(execution_retention) AS m);
    END IF;
    RETURN QUERY VALUES ('partitions_created', created), ('partitions_dropped', dropped);
END
$$;

COMMENT ON FUNCTION maintain_history_partitions(text, bigint, interval) IS 'The reaper''s partition step under its leadership token: creates the archive and dead_letters days ahead and drops the expired ones; with an execution_retention, the same for the barrier_members ranges (each a quarter of the retention, at least a day). Returns partitions created and the rows the dropped ones held.';

-- sweep_executions() of 0011, but members in a range are left to their range's drop (at most
-- one range's span later): deleting them row by row first would leave the drop nothing to
-- take. Members in the default and legacy partitions are deleted with their executions as before.
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
    DELETE FROM barrier_members AS bm USING barriers AS b
    WHERE bm.barrier_id = b.id AND b.execution_id = ANY (doomed)
      AND bm.tableoid IN (SELECT p.partition FROM member_partitions AS p WHERE p.kind <> 'range');
    DELETE FROM barriers AS b WHERE b.execution_id = ANY (doomed);
    DELETE FROM executions AS e WHERE e.id = ANY (doomed);
    RETURN cardinality(doomed);
END
$$;

SELECT ensure_member_partitions();
