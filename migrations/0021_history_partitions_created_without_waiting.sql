-- ensure_history_partitions() of 0015 without waiting on a busy table. Creating a partition
-- takes an ACCESS EXCLUSIVE lock on the partitioned table (and scans its default partition):
-- behind a long report reading archive, the reaper's CREATE waited for the report to end, and
-- every archive-on-ack and dead-letter insert queued behind the CREATE meanwhile. Now a day
-- whose table is held by another session for more than 200 ms is skipped and created at a
-- later sweep (days are created three ahead, so a skipped sweep costs nothing). The function
-- is 0015's otherwise, statement for statement.
CREATE OR REPLACE FUNCTION ensure_history_partitions(as_of timestamptz DEFAULT now(), days_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT SET lock_timeout = '200ms' AS $$
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
            part := h.name || '_' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD');
            BEGIN
                EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE %I >= $1 AND %I < $2)', h.name || '_default',
                               h.arrived_at, h.arrived_at)
                INTO crowded USING day, day + interval '1 day';
                CONTINUE WHEN crowded;
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, h.name, day, day + interval '1 day');
                created := created + 1;
            EXCEPTION WHEN lock_not_available THEN
                RAISE DEBUG 'muster: % is in use; creating % at a later sweep', h.name, part;
            END;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

COMMENT ON FUNCTION ensure_history_partitions(timestamptz, integer) IS 'Creates the missing UTC day partitions of archive and dead_letters from as_of''s day through days_ahead days; returns how many. Skips (until a later call) a day whose table another session holds a lock on for more than 200 ms. The reaper calls it every sweep.';
