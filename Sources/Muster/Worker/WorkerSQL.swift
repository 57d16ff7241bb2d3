/// The statements a worker issues besides the queue's (migrations/0003_workers.sql).
struct WorkerSQL: Sendable {
    let heartbeat: Statement
    let stopped: Statement
    /// True when the queue holds no message at all: none ready, delayed (a retry's backoff)
    /// or leased. Two probes of the partial indexes, whatever the queue's size.
    let queueEmpty: Statement

    init(schema: SchemaName) {
        let s = schema.quoted
        heartbeat = Statement(
            "worker_heartbeat",
            sql: "SELECT \(s).worker_heartbeat($1, $2, $3, $4::text[], $5, $6)"
        )
        stopped = Statement("worker_stopped", sql: "SELECT \(s).worker_stopped($1)")
        queueEmpty = Statement(
            "worker_queue_empty",
            sql: """
                SELECT NOT EXISTS (SELECT FROM \(s).messages WHERE queue = $1 AND state = 'ready')
                   AND NOT EXISTS (SELECT FROM \(s).messages WHERE queue = $1 AND state <> 'ready')
                """
        )
    }

    static func shared(for client: MusterClient) -> WorkerSQL { WorkerSQL(schema: client.schema) }
}
