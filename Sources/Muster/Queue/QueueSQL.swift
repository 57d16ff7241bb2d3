/// Every statement the queue issues, schema-qualified once per client. The logic lives in
/// the schema's functions (migrations/0002_queue.sql), so a producer in any language, the
/// Swift client and the benchmark's pgbench scripts run the same SQL.
struct QueueSQL: Sendable {
    let send: Statement
    let sendOne: Statement
    let notify: Statement
    let readFrom: Statement
    let ack: Statement
    let archive: Statement
    let extend: Statement
    let release: Statement
    let snooze: Statement
    let deadLetter: Statement
    let createQueue: Statement
    let updateQueue: Statement
    let setPaused: Statement
    let queueSettings: Statement
    let listQueues: Statement
    let deleteQueue: Statement
    let metrics: Statement
    let purgeQueue: Statement
    let listDeadLetters: Statement
    let requeueDeadLetters: Statement
    let purgeDeadLetters: Statement

    /// Column order `DeadLetter.init(row:)` decodes.
    static let deadLetterColumns = """
        id, queue, payload, headers, task, execution_id, priority, dedup_key, enqueued_at,
        read_ct, error_ct, last_error, reason, dead_at, snoozes
        """

    init(schema: SchemaName) {
        let s = schema.quoted
        func statement(_ name: String, _ sql: String) -> Statement {
            Statement("queue_\(name)", sql: sql)
        }
        send = statement("send", """
            SELECT ord, id, duplicate
            FROM \(s).send_batch($1, $2::jsonb[], $3::text[], $4::jsonb[], $5::text[], $6::uuid[], $7::smallint[], $8::interval[], $9::boolean)
            """)
        sendOne = statement("send_one", """
            SELECT id, duplicate
            FROM \(s).send_message($1, $2::jsonb, $3, $4::jsonb, $5, $6::uuid, $7::smallint, $8::interval, $9::boolean)
            """)
        notify = statement("notify", "SELECT pg_notify(c, '') FROM unnest($1::text[]) AS c")
        readFrom = statement("read_from", """
            SELECT id, read_ct, payload, headers, task, execution_id, priority, enqueued_at,
                   lease_expires_at, error_ct, last_error, attempt,
                   next_ready_priority, next_ready_id, next_due_after::text
            FROM \(s).read_from($1, $2, $3::interval, $4, $5::smallint, $6, $7::timestamptz)
            """)
        ack = statement("ack", "SELECT id, acked FROM \(s).ack($1, $2::bigint[], $3::int[])")
        archive = statement("archive", "SELECT id, archived FROM \(s).archive($1, $2::bigint[], $3::int[])")
        extend = statement("extend", "SELECT id, extended FROM \(s).extend($1, $2::bigint[], $3::int[], $4::interval)")
        release = statement("release", """
            SELECT id, released FROM \(s).release($1, $2::bigint[], $3::int[], $4::interval[], $5::text[])
            """)
        snooze = statement("snooze", "SELECT id, snoozed FROM \(s).snooze($1, $2::bigint[], $3::int[], $4::interval[])")
        deadLetter = statement("dead_letter", """
            SELECT id, moved FROM \(s).dead_letter($1, $2::bigint[], $3::int[], $4::text[], $5::text[])
            """)
        let settingsColumns = """
            extract(epoch FROM visibility_timeout)::float8, max_attempts,
            extract(epoch FROM retry_backoff_base)::float8, extract(epoch FROM retry_backoff_max)::float8,
            extract(epoch FROM retention)::float8, extract(epoch FROM dedup_window)::float8,
            max_payload_bytes, archive_on_ack, paused
            """
        createQueue = statement("create", """
            INSERT INTO \(s).queues (name, visibility_timeout, max_attempts, retry_backoff_base, retry_backoff_max,
                                     retention, dedup_window, max_payload_bytes, archive_on_ack, paused)
            VALUES ($1, $2::interval, $3, $4::interval, $5::interval, $6::interval, $7::interval, $8, $9, $10)
            ON CONFLICT (name) DO NOTHING
            RETURNING name
            """)
        updateQueue = statement("update", """
            UPDATE \(s).queues
            SET visibility_timeout = $2::interval, max_attempts = $3, retry_backoff_base = $4::interval,
                retry_backoff_max = $5::interval, retention = $6::interval, dedup_window = $7::interval,
                max_payload_bytes = $8, archive_on_ack = $9, paused = $10, updated_at = now()
            WHERE name = $1
            RETURNING name
            """)
        // One column, so a pause never overwrites settings someone changed meanwhile.
        setPaused = statement("set_paused", """
            UPDATE \(s).queues SET paused = $2, updated_at = now() WHERE name = $1 RETURNING name
            """)
        queueSettings = statement("settings", "SELECT \(settingsColumns) FROM \(s).queues WHERE name = $1")
        listQueues = statement("list", "SELECT name, \(settingsColumns) FROM \(s).queues ORDER BY name")
        deleteQueue = statement("delete", "SELECT * FROM \(s).delete_queue($1, $2)")
        metrics = statement("metrics", """
            SELECT queue, ready, delayed, leased, expired_leases, archived, dead,
                   extract(epoch FROM oldest_ready_age)::float8
            FROM \(s).queue_metrics
            WHERE $1::text IS NULL OR queue = $1
            ORDER BY queue
            """)
        purgeQueue = statement("purge", "SELECT * FROM \(s).purge_queue($1, $2)")
        // queue_settings() runs first, for every call (the list depends on its row): an
        // unknown queue is an error (MU001), not an empty list.
        listDeadLetters = statement("dead_letters", """
            SELECT d.*
            FROM (SELECT \(s).queue_settings($1) AS settings) AS known
            CROSS JOIN LATERAL (
                SELECT \(Self.deadLetterColumns)
                FROM \(s).dead_letters
                WHERE queue = (known.settings).name AND ($2::bigint IS NULL OR id = $2)
                ORDER BY dead_at DESC, id DESC
                LIMIT $3
            ) AS d
            """)
        requeueDeadLetters = statement("requeue", "SELECT * FROM \(s).requeue_dead_letters($1, $2::bigint[], $3, $4)")
        purgeDeadLetters = statement("purge_dead", "SELECT \(s).purge_dead_letters($1, $2::interval)")
    }
}
