-- History in daily partitions: archive and dead_letters are partitioned by the time a row
-- arrived (archived_at, dead_at), one partition per UTC day, so retention drops a whole day
-- (a file unlink, no dead rows, nothing for vacuum) instead of deleting row by row.
--
-- Layout of each of the two tables after this migration:
--   <table>_YYYYMMDD  one UTC day, created ahead by the reaper (ensure_history_partitions)
--   <table>_legacy    the rows the table held before this migration (only when it held any):
--                     attached as it was (no copy), covering everything up to the next UTC
--                     midnight; swept and dropped like any other partition
--   <table>_default   rows outside every day partition (a reaper that has not run for days,
--                     a timestamp moved by hand); swept row by row
--
-- A partition is dropped once its day has ended and no row in it is still within its queue's
-- retention (drop_expired_history_partitions). Queues keep their own retention: rows of a
-- queue whose retention is shorter than its neighbours' in the same day are deleted row by
-- row (sweep_retention), one day after their retention ended, so that for queues of equal
-- retention the whole day goes by the drop first. A row is kept at least its queue's
-- retention and at most one day longer.
--
-- The primary key is now (id, archived_at) and (id, dead_at): PostgreSQL needs the partition
-- column in every unique index. A message id is still in at most one of them at a time
-- (archive and dead-letter moves delete it from messages in the same statement).

-- The views and SQL-body functions that read these tables are bound to the tables
-- themselves, and would follow the rename to the legacy partition: their definitions are
-- taken now and applied again once the new tables exist.
CREATE TEMPORARY TABLE history_dependents ON COMMIT DROP AS
SELECT DISTINCT 'CREATE OR REPLACE VIEW ' || quote_ident(c.relname) || ' AS ' || pg_get_viewdef(c.oid) AS definition
FROM pg_depend AS d
JOIN pg_rewrite AS r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
JOIN pg_class AS c ON c.oid = r.ev_class AND c.relkind = 'v'
WHERE d.refobjid IN ('archive'::regclass, 'dead_letters'::regclass)
UNION
SELECT DISTINCT pg_get_functiondef(p.oid)
FROM pg_depend AS d
JOIN pg_proc AS p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE d.refobjid IN ('archive'::regclass, 'dead_letters'::regclass);

-- Moves one history table aside and puts a partitioned table of the same columns in its
-- place: the old table becomes the legacy partition when it holds rows (an empty one is
-- dropped below, once nothing depends on it). Used by this migration only.
CREATE FUNCTION partition_history_table(history regclass, arrived_at text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    base   text := (SELECT c.relname FROM pg_class AS c WHERE c.oid = history);
    legacy text := base || '_legacy';
    ix     record;
    filled boolean;
BEGIN
    EXECUTE format('ALTER TABLE %I RENAME TO %I', base, legacy);
    FOR ix IN SELECT i.relname FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid WHERE x.indrelid = history LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', ix.relname, replace(ix.relname, base, legacy));
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS) '
                   'PARTITION BY RANGE (%I)', base, legacy, arrived_at);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id, %I)', base, arrived_at);
    EXECUTE format('CREATE INDEX %I ON %I (queue, %I)', base || '_queue', base, arrived_at);
    EXECUTE format('CREATE INDEX %I ON %I (execution_id) WHERE execution_id IS NOT NULL', base || '_execution', base);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', base || '_default', base);

    EXECUTE format('SELECT EXISTS (SELECT FROM %I)', legacy) INTO filled;
    IF filled THEN
        EXECUTE format('ALTER TABLE %I ADD UNIQUE (id, %I)', legacy, arrived_at);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', base, legacy,
                       date_trunc('day', now(), 'UTC') + interval '1 day');
    END IF;
END
$$;

DROP TRIGGER dead_letters_settle_executions ON dead_letters;
SELECT partition_history_table('archive', 'archived_at');
SELECT partition_history_table('dead_letters', 'dead_at');
DROP FUNCTION partition_history_table(regclass, text);

-- A statement trigger on the partitioned table sees the rows inserted into any partition.
CREATE TRIGGER dead_letters_settle_executions
AFTER INSERT ON dead_letters
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT
EXECUTE FUNCTION dead_letters_settle_executions();

DO $$
DECLARE
    dependent record;
BEGIN
    FOR dependent IN SELECT definition FROM history_dependents LOOP
        EXECUTE dependent.definition;
    END LOOP;
    -- An empty old table was not attached: nothing reads it any more.
    FOR dependent IN
        SELECT c.relname FROM pg_class AS c
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition
          AND c.relname IN ('archive_legacy', 'dead_letters_legacy')
    LOOP
        EXECUTE format('DROP TABLE %I', dependent.relname);
    END LOOP;
END
$$;

COMMENT ON TABLE archive IS 'Messages acked with archive (or on queues with archive_on_ack), kept for the queue''s retention. Partitioned by UTC day of archived_at (archive_YYYYMMDD, archive_default, archive_legacy); the reaper creates days ahead and drops expired ones.';
COMMENT ON TABLE dead_letters IS 'Messages that will not be delivered again: past max_attempts (poison), non-retryable, or moved explicitly. Kept for the queue''s retention; requeue_dead_letters() puts them back. Partitioned by UTC day of dead_at (dead_letters_YYYYMMDD, dead_letters_default, dead_letters_legacy); the reaper creates days ahead and drops expired ones.';

-- The history tables this migration partitioned, with the column each is partitioned by.
CREATE VIEW history_tables (history, arrived_at) AS
VALUES ('archive'::regclass, 'archived_at'), ('dead_letters'::regclass, 'dead_at');

COMMENT ON VIEW history_tables IS 'The tables partitioned by UTC day (archive, dead_letters) and the timestamp column each is partitioned by.';
COMMENT ON COLUMN history_tables.history IS 'The partitioned table.';
COMMENT ON COLUMN history_tables.arrived_at IS 'Its partition key: when a row arrived.';

-- Every partition of the history tables with its range: one row per partition, for operators
-- (SELECT * FROM history_partitions) and for the reaper.
CREATE VIEW history_partitions AS
SELECT parent.relname::text AS history,
       c.oid::regclass AS partition,
       CASE WHEN b.expression = 'DEFAULT' THEN 'default'
            WHEN b.expression LIKE '%MINVALUE%' THEN 'legacy'
            ELSE 'day' END AS kind,
       substring(b.expression FROM 'FROM \(''([^'']+)''\)')::timestamptz AS starts_at,
       substring(b.expression FROM 'TO \(''([^'']+)''\)')::timestamptz AS ends_at,
       pg_total_relation_size(c.oid) AS bytes
FROM history_tables AS h
JOIN pg_class AS parent ON parent.oid = h.history
JOIN pg_inherits AS i ON i.inhparent = h.history
JOIN pg_class AS c ON c.oid = i.inhrelid
CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expression) AS b;

COMMENT ON VIEW history_partitions IS 'Each partition of archive and dead_letters: kind (day, legacy, default), its range [starts_at, ends_at) and its size on disk.';
COMMENT ON COLUMN history_partitions.history IS 'archive or dead_letters.';
COMMENT ON COLUMN history_partitions.partition IS 'The partition table.';
COMMENT ON COLUMN history_partitions.kind IS 'day: one UTC day; legacy: the rows from before partitioning; default: rows outside every day partition.';
COMMENT ON COLUMN history_partitions.starts_at IS 'First instant it holds (NULL for legacy and default).';
COMMENT ON COLUMN history_partitions.ends_at IS 'First instant it no longer holds (NULL for default).';
COMMENT ON COLUMN history_partitions.bytes IS 'Size with indexes and TOAST.';

-- Creates the day partitions of both history tables for the UTC days from `as_of` through
-- `days_ahead` days later that no partition covers yet. A day whose rows already sit in the
-- default partition is left there (PostgreSQL refuses a partition the default holds rows of);
-- those rows are swept row by row. Returns how many partitions it created.
CREATE FUNCTION ensure_history_partitions(as_of timestamptz DEFAULT now(), days_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    h       record;
    day     timestamptz;
    part    text;
    crowded boolean;
    created integer := 0;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) OR days_ahead IS NULL OR days_ahead NOT BETWEEN 1 AND 60 THEN
        RAISE EXCEPTION 'ensure_history_partitions: as_of must be a finite time and days_ahead between 1 and 60'
            USING ERRCODE = 'MU003';
    END IF;
    FOR h IN SELECT c.relname AS name, t.arrived_at FROM history_tables AS t JOIN pg_class AS c ON c.oid = t.history LOOP
        FOR i IN 0 .. days_ahead - 1 LOOP
            day := date_trunc('day', as_of, 'UTC') + make_interval(days => i);
            CONTINUE WHEN EXISTS (
                SELECT FROM history_partitions AS p
                WHERE p.history = h.name AND p.kind <> 'default'
                  AND coalesce(p.starts_at, '-infinity') < day + interval '1 day' AND p.ends_at > day);
            EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE %I >= $1 AND %I < $2)', h.name || '_default',
                           h.arrived_at, h.arrived_at)
            INTO crowded USING day, day + interval '1 day';
            CONTINUE WHEN crowded;
            part := h.name || '_' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD');
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           part, h.name, day, day + interval '1 day');
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

COMMENT ON FUNCTION ensure_history_partitions(timestamptz, integer) IS 'Creates the missing UTC day partitions of archive and dead_letters from as_of''s day through days_ahead days; returns how many. The reaper calls it every sweep.';

-- Drops every day or legacy partition whose range ended by `as_of` and that holds no row still
-- within its queue's retention at `as_of` (rows of queues that no longer exist count as expired).
-- A partition another session is reading is skipped (lock_timeout 200 ms) and tried again at
-- the next sweep, so a long report never stalls the inserts queued behind the drop's lock.
-- Returns the rows the dropped partitions held.
CREATE FUNCTION drop_expired_history_partitions(as_of timestamptz DEFAULT now())
RETURNS TABLE (partition text, row_count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    p         record;
    young     boolean;
    held      bigint;
    previous  text := current_setting('lock_timeout');
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'drop_expired_history_partitions: as_of must be a finite time' USING ERRCODE = 'MU003';
    END IF;
    FOR p IN
        SELECT hp.*, h.arrived_at FROM history_partitions AS hp JOIN history_tables AS h ON h.history = hp.history::regclass
        WHERE hp.kind <> 'default' AND hp.ends_at <= as_of
        ORDER BY hp.ends_at
    LOOP
        -- One index probe per queue: (queue, arrived_at) is indexed in every partition.
        EXECUTE format('SELECT EXISTS (SELECT FROM queues AS q WHERE EXISTS ('
                       'SELECT FROM %s AS x WHERE x.queue = q.name AND x.%I >= $1 - q.retention))',
                       p.partition, p.arrived_at)
        INTO young USING as_of;
        CONTINUE WHEN young;
        BEGIN
            PERFORM set_config('lock_timeout', '200ms', true);
            partition := p.partition::text;      -- its name: the oid says nothing once it is gone
            EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO held;
            EXECUTE format('DROP TABLE %s', p.partition);
            PERFORM set_config('lock_timeout', previous, true);
            row_count := held;
            RETURN NEXT;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM set_config('lock_timeout', previous, true);
            RAISE DEBUG 'muster: partition % is in use; dropping it at the next sweep', p.partition;
        END;
    END LOOP;
END
$$;

COMMENT ON FUNCTION drop_expired_history_partitions(timestamptz) IS 'Drops the archive and dead_letters partitions whose day ended and whose every row is past its queue''s retention at `as_of`; returns each dropped partition with the rows it held. Skips (until the next sweep) a partition it cannot lock within 200 ms.';

-- The reaper's partition step, fenced by its leadership like reap(): creates the days ahead,
-- then drops the expired ones. Returns the reap()-style counts.
CREATE FUNCTION maintain_history_partitions(holder text, token bigint)
RETURNS TABLE (kind text, count bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM leader_leases AS l
    WHERE l.name = 'reaper' AND l.holder = maintain_history_partitions.holder
      AND l.token = maintain_history_partitions.token AND l.expires_at > now()
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT 'partitions_created', ensure_history_partitions()::bigint;
    RETURN QUERY SELECT 'partitions_dropped', coalesce(sum(d.row_count), 0)::bigint FROM drop_expired_history_partitions() AS d;
END
$$;

COMMENT ON FUNCTION maintain_history_partitions(text, bigint) IS 'The reaper''s partition step under its leadership token: ensure_history_partitions(), then drop_expired_history_partitions(); returns partitions created and the rows the dropped ones held.';

-- Row-by-row retention for what the day drops cannot take: rows of a queue with a shorter
-- retention than others sharing its day, and the default partition. One day of grace past
-- the retention, so a day whose queues share one retention is dropped whole first. Rows are
-- addressed by their primary key: a ctid is only unique within one partition.
CREATE FUNCTION sweep_history_rows(batch_size integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    archived bigint;
    dead     bigint;
BEGIN
    PERFORM check_sweep_arguments(sweep_history_rows.batch_size);
    DELETE FROM archive AS a USING (
        SELECT x.id, x.archived_at FROM archive AS x JOIN queues AS q ON q.name = x.queue
        WHERE x.archived_at < now() - q.retention - interval '1 day' LIMIT batch_size) AS e
    WHERE a.id = e.id AND a.archived_at = e.archived_at;
    GET DIAGNOSTICS archived = ROW_COUNT;
    DELETE FROM dead_letters AS d USING (
        SELECT x.id, x.dead_at FROM dead_letters AS x JOIN queues AS q ON q.name = x.queue
        WHERE x.dead_at < now() - q.retention - interval '1 day' LIMIT batch_size) AS e
    WHERE d.id = e.id AND d.dead_at = e.dead_at;
    GET DIAGNOSTICS dead = ROW_COUNT;
    RETURN archived + dead;
END
$$;

COMMENT ON FUNCTION sweep_history_rows(integer) IS 'Deletes up to batch_size archive rows and as many dead letters that are one day past their queue''s retention (what a day partition drop does not take); returns how many.';

CREATE OR REPLACE FUNCTION sweep_retention(batch_size integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    step bigint;
BEGIN
    PERFORM check_sweep_arguments(sweep_retention.batch_size);
    DELETE FROM message_keys WHERE ctid IN (
        SELECT k.ctid FROM message_keys AS k JOIN queues AS q ON q.name = k.queue
        WHERE k.created_at < now() - q.dedup_window LIMIT batch_size);
    GET DIAGNOSTICS step = ROW_COUNT;
    RETURN sweep_history_rows(batch_size) + step;
END
$$;

SELECT ensure_history_partitions();
