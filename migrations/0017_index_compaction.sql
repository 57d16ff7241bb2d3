-- Hot indexes back to their size after a held snapshot (docs/operations.md ## Held snapshots
-- and bloat). While a snapshot holds the xmin horizon back, every lease and ack adds index
-- entries vacuum may not remove, and the indexes of messages and message_keys grow with
-- them: at 1,793 messages/s a four-minute snapshot left messages_ready at 4.57 times its
-- size. Vacuum removes the entries once the snapshot ends, but an index file never shrinks:
-- its empty pages are reused, not returned. The reaper rebuilds such an index with REINDEX
-- CONCURRENTLY (reads, sends and acks go on meanwhile) once nothing holds the horizon back.
-- This view is what it decides from; the decision itself is IndexCompaction in the reaper.

CREATE VIEW hot_index_sizes AS
SELECT i.indexrelid::regclass AS index,
       t.relname::text AS table_name,
       pg_relation_size(i.indexrelid) AS bytes,
       -- The size the index needs: one entry (its columns' average widths, a tuple header and
       -- a line pointer, at btree's 90 % leaf fill) per live row, or per row the table's heap
       -- can hold, whichever is more; at least a metapage and a leaf page. The heap bound is
       -- what a busy queue's index holds between vacuums (mostly entries of rows acked since
       -- the last one); once vacuum has emptied the heap's tail after a held snapshot, the heap
       -- shrinks and the bound with it, and an index left larger stands out.
       greatest(2 * current_setting('block_size')::bigint,
                ((greatest(c.reltuples, 0) + pg_relation_size(t.oid) / r.width) * (12 + w.width) / 0.9)::bigint) AS compact_bytes,
       i.indisvalid AS valid
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_class AS t ON t.oid = i.indrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
CROSS JOIN LATERAL (
    SELECT coalesce(sum(coalesce(s.avg_width, 8) + 4), 8) AS width    -- + alignment padding per column
    FROM unnest(i.indkey) AS k(attnum)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    LEFT JOIN pg_stats AS s ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
) AS w
CROSS JOIN LATERAL (
    -- A heap row: its columns' average widths, a 24-byte header and a line pointer.
    SELECT 28 + coalesce(sum(s.avg_width), 64) AS width
    FROM pg_stats AS s WHERE s.schemaname = n.nspname AND s.tablename = t.relname
) AS r
WHERE i.indrelid IN ('messages'::regclass, 'message_keys'::regclass);

COMMENT ON VIEW hot_index_sizes IS 'Each index of messages and message_keys: its size on disk, the size it needs (an entry per live row and per row the heap can hold, at its columns'' average widths), and whether it is valid (an interrupted REINDEX CONCURRENTLY leaves an invalid *_ccnew copy behind). The reaper rebuilds one that is much larger than it needs.';
COMMENT ON COLUMN hot_index_sizes.index IS 'The index.';
COMMENT ON COLUMN hot_index_sizes.table_name IS 'Its table: messages or message_keys.';
COMMENT ON COLUMN hot_index_sizes.bytes IS 'Its size on disk.';
COMMENT ON COLUMN hot_index_sizes.compact_bytes IS 'Estimated size the index needs: an entry per live row (pg_class.reltuples) plus one per row its table''s heap can hold, at their width and 90 % fill.';
COMMENT ON COLUMN hot_index_sizes.valid IS 'false for an index left invalid by an interrupted REINDEX CONCURRENTLY (named *_ccnew): drop it.';

-- How long the oldest snapshot of this database has been open, as REINDEX CONCURRENTLY would
-- wait for it (sessions and prepared transactions; a replication slot or standby feedback
-- keeps the horizon back too, and is reported in horizon_holders): 0 when none is.
CREATE FUNCTION oldest_snapshot_age() RETURNS interval
LANGUAGE sql STABLE SET search_path FROM CURRENT
RETURN greatest(
    (SELECT max(now() - coalesce(a.xact_start, a.query_start)) FROM pg_stat_activity AS a
     WHERE a.backend_xmin IS NOT NULL AND a.pid <> pg_backend_pid() AND a.datname = current_database()),
    (SELECT max(now() - p.prepared) FROM pg_prepared_xacts AS p WHERE p.database = current_database()),
    interval '0');

COMMENT ON FUNCTION oldest_snapshot_age() IS 'Age of the oldest open snapshot in this database (sessions and prepared transactions), 0 when none: the reaper rebuilds bloated hot indexes only when it is short, since REINDEX CONCURRENTLY waits for every older snapshot.';
