-- Autovacuum for the tables every message churns (docs/operations.md ## Held snapshots and
-- bloat). Each lease and ack leaves dead row versions and dead index entries, and a read
-- walks the entries vacuum has not removed yet. With the defaults (vacuum once 20 % of the
-- table is dead, throttled by cost delay), a queue running near its capacity let 180,000 dead
-- versions pile up between vacuums and its reads walked up to 86,704 entries each, for a
-- minute at a time, without any long transaction (scripts/bench.sh soak at 1,793 messages/s).
-- Vacuuming after every 10,000 dead (or inserted) rows, unthrottled, brought that to at most
-- 53. A vacuum of these tables is small: they hold only the messages not yet acked.
--
-- How often autovacuum looks at a database is autovacuum_naptime (server-wide, 1 minute by
-- default): these settings cannot make it come sooner. Nothing here helps while a snapshot
-- holds the horizon back; then vacuum can remove nothing.
--
-- ALTER TABLE … SET for autovacuum parameters takes a SHARE UPDATE EXCLUSIVE lock: sends,
-- reads and acks go on while it applies.

ALTER TABLE messages SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_vacuum_cost_delay = 0
);

ALTER TABLE message_keys SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_cost_delay = 0
);
