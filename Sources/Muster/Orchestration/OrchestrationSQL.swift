/// Every statement of executions, barriers, claims and the reaper, schema-qualified once per
/// client. The logic lives in the schema's functions (migrations/0004_orchestration.sql and
/// 0006_member_batches_and_fire_safety.sql), so
/// psql users, the benchmark's pgbench scripts and the Swift client run the same SQL.
struct OrchestrationSQL: Sendable {
    let createExecution: Statement
    let getExecution: Statement
    let lockExecution: Statement
    let transitionExecution: Statement
    let cancelExecution: Statement
    let recordStart: Statement
    let retryExecution: Statement
    let listExecutions: Statement
    let fanOut: Statement
    let completeMember: Statement
    let completeMembers: Statement
    let finalizeBarrier: Statement
    let barrier: Statement
    let members: Statement
    let recordMemberTraces: Statement
    let traceMembers: Statement
    let memberTraces: Statement
    let tryClaim: Statement
    let heartbeatClaim: Statement
    let finishClaim: Statement
    let releaseClaim: Statement
    let acquireLeadership: Statement
    let resignLeadership: Statement
    let reap: Statement
    let sweepExecutions: Statement
    let maintainHistoryPartitions: Statement
    let hotIndexSizes: Statement

    /// Column order `Executions.execution(from:)` decodes.
    static let executionColumns = """
        id, pipeline, stage, status, idempotency_key, input_summary, output, error, deadline,
        created_at, updated_at, finished_at
        """

    /// Column order `Barriers.barrier(from:)` decodes.
    static let barrierColumns = """
        id, execution_id, name, status, on_failure, expected, remaining, failed, callback_message_id,
        deadline, created_at, last_completed_at, fired_at, finalized_at
        """

    init(schema: SchemaName) {
        let s = schema.quoted
        func statement(_ name: String, _ sql: String) -> Statement {
            Statement("orch_\(name)", sql: sql)
        }
        createExecution = statement("create_execution", "SELECT id, created FROM \(s).create_execution($1, $2::jsonb, $3, $4::timestamptz)")
        getExecution = statement("get_execution", "SELECT \(Self.executionColumns) FROM \(s).executions WHERE id = $1::uuid")
        lockExecution = statement("lock_execution", "SELECT status FROM \(s).executions WHERE id = $1::uuid FOR UPDATE")
        transitionExecution = statement("transition_execution", """
            SELECT \(Self.executionColumns)
            FROM \(s).transition_execution($1::uuid, $2, $3, $4::jsonb, $5)
            """)
        cancelExecution = statement("cancel_execution", "SELECT canceled, messages_removed FROM \(s).cancel_execution($1::uuid, $2)")
        recordStart = statement("record_start", "SELECT \(s).record_start($1::uuid, $2, $3, $4::jsonb)")
        retryExecution = statement("retry_execution", "SELECT execution_id, created FROM \(s).retry_execution($1::uuid)")
        listExecutions = statement("list_executions", """
            SELECT \(Self.executionColumns)
            FROM \(s).executions
            WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR pipeline = $2)
              AND ($3::timestamptz IS NULL OR created_at >= $3)
            ORDER BY created_at DESC, id
            LIMIT $4
            """)
        fanOut = statement("fan_out", """
            SELECT barrier_id, created, callback_message_id
            FROM \(s).fan_out($1::uuid, $2, $3, $4, $5::text[], $6::jsonb[], $7, $8, $9::jsonb, $10, $11::timestamptz)
            """)
        completeMember = statement("complete_member", """
            SELECT applied, counted, remaining, fired, callback_message_id
            FROM \(s).complete_member($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
            """)
        completeMembers = statement("complete_members", """
            SELECT ord, applied, counted, remaining, fired, callback_message_id
            FROM \(s).complete_members($1, $2::bigint[], $3::integer[], $4::bigint[], $5::text[], $6::jsonb[])
            """)
        finalizeBarrier = statement("finalize_barrier", "SELECT finalized, acked FROM \(s).finalize_barrier($1, $2, $3, $4)")
        barrier = statement("barrier", "SELECT \(Self.barrierColumns) FROM \(s).barriers WHERE id = $1")
        // Only while a tracer is bootstrapped (MessageTracing): the spans that completed a
        // batch of members, and the callback's links to them (at most $2).
        recordMemberTraces = statement("record_member_traces", """
            UPDATE \(s).barrier_members AS m SET trace = t.trace
            FROM unnest($1::bigint[], $2::text[], $3::jsonb[]) AS t(barrier_id, member_key, trace)
            WHERE m.barrier_id = t.barrier_id AND m.member_key = t.member_key AND m.status = 'pending'
            """)
        traceMembers = statement("trace_members", """
            UPDATE \(s).messages AS m SET headers = coalesce(m.headers, '{}') || $2::jsonb
            FROM \(s).barrier_members AS b WHERE b.barrier_id = $1 AND m.id = b.message_id
            """)
        memberTraces = statement("member_traces", """
            SELECT trace::text FROM \(s).barrier_members
            WHERE barrier_id = $1 AND trace IS NOT NULL ORDER BY member_key LIMIT $2
            """)
        members = statement("members", """
            SELECT member_key, status, result, error, completed_at
            FROM \(s).barrier_members
            WHERE barrier_id = $1
            ORDER BY member_key
            """)
        tryClaim = statement("try_claim", "SELECT outcome, token, held_by, expires_at FROM \(s).try_claim($1::uuid, $2, $3, $4::interval)")
        heartbeatClaim = statement("heartbeat_claim", "SELECT \(s).heartbeat_claim($1::uuid, $2, $3, $4, $5::interval)")
        finishClaim = statement("finish_claim", "SELECT \(s).finish_claim($1::uuid, $2, $3, $4)")
        releaseClaim = statement("release_claim", "SELECT \(s).release_claim($1::uuid, $2, $3, $4)")
        acquireLeadership = statement("acquire_leadership", """
            SELECT leader, token, held_by, expires_at FROM \(s).acquire_leadership($1, $2, $3::interval)
            """)
        resignLeadership = statement("resign_leadership", "SELECT \(s).resign_leadership($1, $2, $3)")
        reap = statement("reap", "SELECT kind, count FROM \(s).reap($1, $2, $3::interval, $4)")
        sweepExecutions = statement("sweep_executions", "SELECT \(s).sweep_executions($1, $2, $3::interval, $4)")
        maintainHistoryPartitions = statement("maintain_history_partitions", "SELECT kind, count FROM \(s).maintain_history_partitions($1, $2, $3::interval)")
        hotIndexSizes = statement("hot_index_sizes", """
            SELECT c.relname::text, h.bytes, h.compact_bytes, h.valid, extract(epoch FROM \(s).oldest_snapshot_age())::float8,
                   h.fresh_bytes
            FROM \(s).hot_index_sizes AS h JOIN pg_class AS c ON c.oid = h.index
            """)
    }
}
