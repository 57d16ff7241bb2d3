/// The statements a worker issues besides the queue's (migrations/0003_workers.sql).
struct WorkerSQL: Sendable {
    let heartbeat: Statement
    let stopped: Statement

    init(schema: SchemaName) {
        let s = schema.quoted
        heartbeat = Statement(
            name: "muster_\(schema.name)_worker_heartbeat",
            sql: "SELECT \(s).worker_heartbeat($1, $2, $3, $4::text[], $5, $6)"
        )
        stopped = Statement(name: "muster_\(schema.name)_worker_stopped", sql: "SELECT \(s).worker_stopped($1)")
    }

    static func shared(for client: MusterClient) -> WorkerSQL { WorkerSQL(schema: client.schema) }
}
