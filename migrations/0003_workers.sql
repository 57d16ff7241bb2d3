-- Workers: who is consuming, from where, and which leases they hold.

CREATE TABLE workers (
    id                text        PRIMARY KEY,
    host              text        NOT NULL,
    pid               integer     NOT NULL,
    queues            text[]      NOT NULL,
    concurrency       integer     NOT NULL,
    in_flight         integer     NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at        timestamptz
);
CREATE INDEX workers_heartbeat ON workers (last_heartbeat_at);

COMMENT ON TABLE workers IS 'One row per worker process (per client worker id), refreshed by its heartbeat. A row whose heartbeat is old belongs to a dead process; its leases expire on their own.';
COMMENT ON COLUMN workers.id IS 'The worker id, as written to messages.leased_by (host:pid:random).';
COMMENT ON COLUMN workers.host IS 'Host name of the process.';
COMMENT ON COLUMN workers.pid IS 'Process id on that host.';
COMMENT ON COLUMN workers.queues IS 'Queues it consumes.';
COMMENT ON COLUMN workers.concurrency IS 'Most handlers it runs at once.';
COMMENT ON COLUMN workers.in_flight IS 'Handlers running at the last heartbeat.';
COMMENT ON COLUMN workers.started_at IS 'When it started.';
COMMENT ON COLUMN workers.last_heartbeat_at IS 'Its last heartbeat; older than a few visibility timeouts means it is gone.';
COMMENT ON COLUMN workers.stopped_at IS 'When it shut down gracefully (NULL while running, or when it died).';

-- Records a worker's heartbeat (inserting its row on the first one).
CREATE FUNCTION worker_heartbeat(id text, host text, pid integer, queues text[], concurrency integer, in_flight integer)
RETURNS void
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    INSERT INTO workers AS w (id, host, pid, queues, concurrency, in_flight)
    VALUES (id, host, pid, queues, concurrency, in_flight)
    ON CONFLICT ON CONSTRAINT workers_pkey DO UPDATE
    SET in_flight = EXCLUDED.in_flight, queues = EXCLUDED.queues, last_heartbeat_at = now(), stopped_at = NULL;
END;

COMMENT ON FUNCTION worker_heartbeat(text, text, integer, text[], integer, integer) IS 'Upserts a worker''s row and refreshes its heartbeat.';

-- Marks a worker as stopped after a graceful shutdown.
CREATE FUNCTION worker_stopped(id text) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
    UPDATE workers SET stopped_at = now(), in_flight = 0 WHERE workers.id = worker_stopped.id;
END;

COMMENT ON FUNCTION worker_stopped(text) IS 'Marks a worker as stopped after a graceful shutdown.';

CREATE VIEW in_flight AS
SELECT
    m.id,
    m.queue,
    m.task,
    m.execution_id,
    m.read_ct,
    m.leased_by,
    w.host,
    w.pid,
    m.last_read_at,
    now() - m.last_read_at AS held_for,
    m.visible_at AS lease_expires_at,
    m.visible_at <= now() AS expired,
    w.last_heartbeat_at AS holder_last_heartbeat_at
FROM messages AS m
LEFT JOIN workers AS w ON w.id = m.leased_by
WHERE m.state = 'leased';

COMMENT ON VIEW in_flight IS 'Leased messages with their holder: who holds this lease, since when, and whether it has expired.';
COMMENT ON COLUMN in_flight.id IS 'Message id.';
COMMENT ON COLUMN in_flight.queue IS 'The queue.';
COMMENT ON COLUMN in_flight.task IS 'The task.';
COMMENT ON COLUMN in_flight.execution_id IS 'The execution.';
COMMENT ON COLUMN in_flight.read_ct IS 'The lease''s read count (fencing token).';
COMMENT ON COLUMN in_flight.leased_by IS 'The holder''s worker id.';
COMMENT ON COLUMN in_flight.host IS 'The holder''s host (NULL when it never registered).';
COMMENT ON COLUMN in_flight.pid IS 'The holder''s process id.';
COMMENT ON COLUMN in_flight.last_read_at IS 'When this delivery started.';
COMMENT ON COLUMN in_flight.held_for IS 'How long it has been held.';
COMMENT ON COLUMN in_flight.lease_expires_at IS 'When the lease runs out unless extended.';
COMMENT ON COLUMN in_flight.expired IS 'True when the lease ran out: the holder is probably dead and the next read takes it back.';
COMMENT ON COLUMN in_flight.holder_last_heartbeat_at IS 'The holder''s last worker heartbeat.';
