-- What an index would be if built now from its live rows only: hot_index_sizes gains
-- fresh_bytes. The reaper's rule for the indexes a held snapshot let grow measures them
-- against it once the snapshot has ended (right after the release, before vacuum has emptied
-- the heap, compact_bytes still counts every row the bloated heap can hold and hides them);
-- compact_bytes stays the measure of its rule for any time. The view's text is that of
-- 0017_index_compaction.sql with the new column at its end.
CREATE OR REPLACE VIEW hot_index_sizes AS
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
       i.indisvalid AS valid,
       -- The same entry size for the live rows alone: what REINDEX would build now (unknown
       -- until the table has been vacuumed or analyzed once: reltuples is -1 before).
       CASE WHEN t.reltuples >= 0 THEN
           greatest(2 * current_setting('block_size')::bigint, (t.reltuples * (12 + w.width) / 0.9)::bigint)
       END AS fresh_bytes
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

COMMENT ON VIEW hot_index_sizes IS 'Each index of messages and message_keys: its size on disk, the size it needs (an entry per live row and per row the heap can hold, at its columns'' average widths), what a rebuild would make of it now (live rows only), and whether it is valid (an interrupted REINDEX CONCURRENTLY leaves an invalid *_ccnew copy behind). The reaper rebuilds one that is much larger than it needs, and after a held snapshot each one that grew.';
COMMENT ON COLUMN hot_index_sizes.fresh_bytes IS 'What REINDEX would build now: an entry per live row (the table''s reltuples) at the index columns'' average widths; NULL until the table has been vacuumed or analyzed once.';
