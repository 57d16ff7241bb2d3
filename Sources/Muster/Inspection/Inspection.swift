public import Foundation
internal import MusterPostgres

extension MusterClient {
    /// Queues with their counts, workers, executions by status, the oldest open ones, how
    /// many are stuck, and the reaper's leader: read-only, a handful of queries.
    public func status() async throws -> SystemStatus {
        let sql = inspectionSQL
        let counts = try await run(sql.executionCounts, [], retry: .idempotent).rows.reduce(into: [String: Int]()) { counts, row in
            counts[try row.decode(0)] = try row.decode(1)
        }
        return SystemStatus(
            queues: try await metrics(),
            workers: try await workers(),
            executions: counts,
            open: try await run(sql.openExecutions, [20], retry: .idempotent).rows.map(Executions.execution(from:)),
            stuck: try await run(sql.stuckCount, [Duration.seconds(300)], retry: .idempotent).single().decode(0),
            reaperLeader: try await reaperLeader()
        )
    }

    /// Who holds the reaper's lease, and whether it is still running; nil when no reaper
    /// ever ran against this schema.
    public func reaperLeader() async throws -> ReaperLeader? {
        try await run(inspectionSQL.reaperLeader, [], retry: .idempotent).rows.first.map { row in
            ReaperLeader(
                holder: try row.decode(0), token: try row.decode(1), acquiredAt: try row.decode(2),
                renewedAt: try row.decode(3), expiresAt: try row.decode(4), active: try row.decode(5)
            )
        }
    }

    /// Every worker row, live ones first, with the leases each holds.
    public func workers() async throws -> [WorkerInfo] {
        try await run(inspectionSQL.workers, [], retry: .idempotent).rows.map(WorkerInfo.init(row:))
    }
}

extension Executions {
    /// Everything about one execution: its row, why it is not finished, its barriers,
    /// members not done, messages in flight, dead letters and timeline.
    /// Throws `unknownExecution` when there is none with this id.
    public func report(_ id: UUID) async throws -> ExecutionReport {
        guard let execution = try await get(id) else {
            throw MusterError(.unknownExecution, "execution \(id.uuidString.lowercased()) does not exist")
        }
        let sql = client.inspectionSQL
        func rows(_ statement: Statement, limited: Bool = true) async throws -> [PostgresRow] {
            try await client.run(statement, limited ? [id, 100] : [id], retry: .idempotent).rows
        }
        return ExecutionReport(
            execution: execution,
            reason: execution.status.isTerminal ? nil : try await rows(sql.activityReason, limited: false).first?.decodeIfPresent(0),
            barriers: try await rows(sql.barriersOfExecution, limited: false).map(Barriers.barrier(from:)),
            pendingMembers: try await rows(sql.pendingMembers).map { row in
                PendingMember(
                    barrierID: try row.decode(0), barrier: try row.decode(1), key: try row.decode(2),
                    messageID: try row.decodeIfPresent(3), messageState: try row.decodeIfPresent(4), readCount: try row.decodeIfPresent(5),
                    lastError: try row.decodeIfPresent(6), leasedBy: try row.decodeIfPresent(7), visibleAt: try row.decodeIfPresent(8)
                )
            },
            inFlight: try await rows(sql.inFlight).map { row in
                InFlightMessage(
                    id: try row.decode(0), queue: try row.decode(1), task: try row.decodeIfPresent(2), readCount: try row.decode(3),
                    leasedBy: try row.decodeIfPresent(4), host: try row.decodeIfPresent(5), pid: try row.decodeIfPresent(6),
                    heldSeconds: try row.decode(7), leaseExpiresAt: try row.decode(8), expired: try row.decode(9)
                )
            },
            deadLetters: try await rows(sql.deadLetters).map(DeadLetter.init(row:)),
            timeline: try await rows(sql.timeline, limited: false).map { row in
                TimelineEvent(at: try row.decode(0), event: try row.decode(1), detail: try row.decodeIfPresent(2))
            }
        )
    }
}

extension WorkerInfo {
    /// Decodes a row in `InspectionSQL.workers` column order.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode(0), host: try row.decode(1), pid: try row.decode(2), queues: try row.decode(3),
            concurrency: try row.decode(4), inFlight: try row.decode(5), alive: try row.decode(6),
            leasesHeld: try row.decode(7), leasesExpired: try row.decode(8), oldestLeaseSeconds: try row.decodeIfPresent(9),
            lastHeartbeatSeconds: try row.decode(10), startedAt: try row.decode(11), stoppedAt: try row.decodeIfPresent(12)
        )
    }
}
