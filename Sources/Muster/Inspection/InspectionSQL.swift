/// Every read-only statement behind the inspection API (`muster status`, `execution show`,
/// `workers`, run summaries), schema-qualified once per client. They read the tables and
/// the views of migrations/0005_inspection.sql, which docs/sql-debugging.md documents.
struct InspectionSQL: Sendable {
    let executionSetStats: Statement
    let executionCounts: Statement
    let openExecutions: Statement
    let stuckCount: Statement
    let reaperLeader: Statement
    let workers: Statement
    let activityReason: Statement
    let barriersOfExecution: Statement
    let pendingMembers: Statement
    let inFlight: Statement
    let deadLetters: Statement
    let timeline: Statement

    init(schema: SchemaName) {
        let s = schema.quoted
        func statement(_ name: String, _ sql: String) -> Statement {
            Statement("inspect_\(name)", sql: sql)
        }
        executionSetStats = statement("execution_set_stats", """
            WITH ids AS (SELECT DISTINCT unnest($1::uuid[]) AS id),
            messages AS (
                SELECT 'waiting' AS place, m.state, m.read_ct, false AS callback
                FROM \(s).messages AS m WHERE m.execution_id IN (SELECT id FROM ids)
                UNION ALL
                SELECT 'archived', NULL, a.read_ct, coalesce(a.headers ? 'muster-callback', false)
                FROM \(s).archive AS a WHERE a.execution_id IN (SELECT id FROM ids)
                UNION ALL
                SELECT 'dead', NULL, d.read_ct, false FROM \(s).dead_letters AS d WHERE d.execution_id IN (SELECT id FROM ids)
            )
            SELECT
                (SELECT coalesce(jsonb_object_agg(x.status, x.n), '{}')::text
                 FROM (SELECT e.status, count(*) AS n FROM \(s).executions AS e
                       WHERE e.id IN (SELECT id FROM ids) GROUP BY e.status) AS x),
                (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'name', x.name, 'barriers', x.barriers, 'finalized', x.finalized, 'members', x.members,
                            'members_done', x.done, 'members_failed', x.failed) ORDER BY x.first), '[]')::text
                 FROM (SELECT b.name, count(*) AS barriers, count(b.finalized_at) AS finalized, sum(b.expected) AS members,
                              sum(b.expected - b.remaining) AS done, sum(b.failed) AS failed, min(b.created_at) AS first
                       FROM \(s).barriers AS b WHERE b.execution_id IN (SELECT id FROM ids) GROUP BY b.name) AS x),
                count(*) FILTER (WHERE place = 'waiting'),
                count(*) FILTER (WHERE place = 'waiting' AND state = 'leased'),
                count(*) FILTER (WHERE place = 'archived'),
                coalesce(sum(read_ct), 0)::bigint,
                coalesce(sum(greatest(read_ct - 1, 0)), 0)::bigint,
                count(*) FILTER (WHERE place = 'dead'),
                count(*) FILTER (WHERE callback)
            FROM messages
            """)
            // Open executions (an index holds them) and the last day's: not every execution ever.
        executionCounts = statement("execution_counts", """
            SELECT status, count(*) FROM \(s).executions
            WHERE status IN ('pending', 'running') OR created_at > now() - interval '1 day'
            GROUP BY status ORDER BY status
            """)
        openExecutions = statement("open_executions", """
            SELECT \(OrchestrationSQL.executionColumns) FROM \(s).executions
            WHERE status IN ('pending', 'running') ORDER BY created_at LIMIT $1
            """)
        stuckCount = statement("stuck_count", "SELECT count(*) FROM \(s).stuck_executions($1::interval)")
        reaperLeader = statement("reaper_leader", """
            SELECT holder, token, acquired_at, renewed_at, expires_at, expires_at > now()
            FROM \(s).leader_leases WHERE name = 'reaper'
            """)
        workers = statement("workers", """
            SELECT id, host, pid, queues, concurrency, in_flight, alive, leases_held, leases_expired,
                   extract(epoch FROM oldest_lease_age)::float8, extract(epoch FROM last_heartbeat_age)::float8,
                   started_at, stopped_at
            FROM \(s).worker_overview
            ORDER BY alive DESC, started_at DESC
            """)
        activityReason = statement("activity_reason", "SELECT reason FROM \(s).execution_activity WHERE id = $1::uuid")
        barriersOfExecution = statement("execution_barriers", """
            SELECT \(OrchestrationSQL.barrierColumns) FROM \(s).barriers WHERE execution_id = $1::uuid ORDER BY created_at, id
            """)
        pendingMembers = statement("pending_members", """
            SELECT barrier_id, barrier, member_key, message_id, message_state, read_ct, last_error, leased_by, visible_at
            FROM \(s).pending_members WHERE execution_id = $1::uuid
            ORDER BY barrier_id, member_key LIMIT $2
            """)
        inFlight = statement("in_flight", """
            SELECT id, queue, task, read_ct, leased_by, host, pid, extract(epoch FROM held_for)::float8, lease_expires_at, expired
            FROM \(s).in_flight WHERE execution_id = $1::uuid
            ORDER BY id LIMIT $2
            """)
        deadLetters = statement("execution_dead_letters", """
            SELECT \(QueueSQL.deadLetterColumns) FROM \(s).dead_letters
            WHERE execution_id = $1::uuid ORDER BY dead_at DESC, id DESC LIMIT $2
            """)
        timeline = statement("timeline", "SELECT at, event, detail FROM \(s).execution_timeline($1::uuid)")
    }
}
