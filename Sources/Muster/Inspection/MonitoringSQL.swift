/// The statements behind monitoring (`muster metrics`, `muster dashboard`): each reads a
/// bounded number of rows whatever the size of the history tables, through the indexes of
/// migrations/0013_monitoring.sql (docs/operations.md ## Monitoring).
struct MonitoringSQL: Sendable {
    let snapshot: Statement
    let recentSends: Statement
    let executionsPage: Statement
    let executionsOfStatus: Statement
    let executionsOfPipeline: Statement
    let deadLettersPage: Statement
    let workers: Statement

    init(schema: SchemaName) {
        let s = schema.quoted
        func statement(_ name: String, _ sql: String) -> Statement {
            Statement("monitor_\(name)", sql: sql)
        }
        snapshot = statement("snapshot", "SELECT metric, labels::text, value, estimated FROM \(s).metrics_snapshot($1, $2)")
        // Sends of the last minute per queue, from the dedup ledger's created_at index; at most
        // $1 keys are walked.
        recentSends = statement("recent_sends", """
            SELECT queue, count(*) FROM (
                SELECT queue FROM \(s).message_keys WHERE created_at > now() - interval '1 minute' LIMIT $1
            ) AS recent GROUP BY queue
            """)
        // Keyset pages, newest first, after the cursor (the last row's created_at and id; the
        // first page passes infinity). One statement per filter, each walking its own index
        // from the cursor: a page costs the same wherever it is.
        func executions(_ name: String, where filter: String, first: Int) -> Statement {
            statement(name, """
                SELECT \(OrchestrationSQL.executionColumns) FROM \(s).executions
                WHERE \(filter)(created_at, id) < ($\(first)::timestamptz, $\(first + 1)::uuid)
                ORDER BY created_at DESC, id DESC LIMIT $\(first + 2)
                """)
        }
        executionsPage = executions("executions_page", where: "", first: 1)
        executionsOfStatus = executions("executions_of_status", where: "status = $1 AND ", first: 2)
        executionsOfPipeline = executions(
            "executions_of_pipeline", where: "pipeline = $1 AND ($2::text IS NULL OR status = $2) AND ", first: 3)
        // worker_overview's columns with the leases counted from at most $1 leased rows (the
        // view counts every one: messages has no index on leased_by); the last column says
        // whether the walk stopped at the cap.
        workers = statement("workers", """
            WITH leases AS (
                SELECT m.leased_by, m.visible_at, m.last_read_at FROM \(s).messages AS m
                WHERE m.state <> 'ready' AND m.state = 'leased' LIMIT $1
            ), per_worker AS (
                SELECT leased_by, count(*) FILTER (WHERE visible_at > now()) AS held,
                       count(*) FILTER (WHERE visible_at <= now()) AS expired,
                       extract(epoch FROM now() - min(last_read_at) FILTER (WHERE visible_at > now()))::float8 AS oldest
                FROM leases GROUP BY leased_by
            )
            SELECT w.id, w.host, w.pid, w.queues, w.concurrency, w.in_flight, \(s).worker_is_alive(w) AS alive,
                   coalesce(l.held, 0), coalesce(l.expired, 0), l.oldest,
                   extract(epoch FROM now() - w.last_heartbeat_at)::float8, w.started_at, w.stopped_at,
                   (SELECT count(*) FROM leases) >= $1
            FROM \(s).workers AS w LEFT JOIN per_worker AS l ON l.leased_by = w.id
            ORDER BY alive DESC, w.started_at DESC
            """)
        // The newest dead letters of every queue: the newest $2 of each queue (its
        // (queue, dead_at) index), merged; or of one queue.
        deadLettersPage = statement("dead_letters_page", """
            SELECT d.* FROM \(s).queues AS q
            CROSS JOIN LATERAL (
                SELECT \(QueueSQL.deadLetterColumns) FROM \(s).dead_letters AS x
                WHERE x.queue = q.name ORDER BY x.dead_at DESC, x.id DESC LIMIT $2
            ) AS d
            WHERE $1::text IS NULL OR q.name = $1
            ORDER BY d.dead_at DESC, d.id DESC LIMIT $2
            """)
    }
}
