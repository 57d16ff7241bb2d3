public import Foundation
internal import MusterPostgres

/// One metric only the database knows (queue depths, executions by status, open barriers,
/// workers alive, the reaper's leader), as `metrics_snapshot` returns it.
public struct DatabaseMetric: Sendable, Hashable {
    /// The name without the `muster_` prefix, e.g. `queue_ready`.
    public var name: String
    /// Its dimensions, e.g. `["queue": "emails"]`.
    public var labels: [String: String]
    public var value: Double
    /// True when a count reached the cap and is the planner's estimate, not an exact count.
    public var estimated: Bool

    /// Where counts stop being exact: each walks at most this many index entries, then is the
    /// planner's estimate. Below it a count costs what the rows cost; above it, the same as at it.
    public static let defaultCountCap = 10_000

    public init(name: String, labels: [String: String], value: Double, estimated: Bool) {
        self.name = name
        self.labels = labels
        self.value = value
        self.estimated = estimated
    }
}

/// Where a page of executions ends: the next page starts after this row.
public struct ExecutionCursor: Sendable, Hashable {
    public var createdAt: Date
    public var id: UUID

    public init(createdAt: Date, id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }

    /// The cursor as one URL-safe token, `<microseconds since 1970>_<id>`.
    public var token: String {
        "\(Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded()))_\(id.uuidString.lowercased())"
    }

    /// Parses `token`; nil for anything else.
    public init?(token: String) {
        let parts = token.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), id: id)
    }
}

/// A page of executions, newest first, and where the next one starts (nil on the last).
public struct ExecutionPage: Sendable {
    public var executions: [Execution]
    public var next: ExecutionCursor?
}

extension MusterClient {
    /// Every database-side metric at a cost bounded whatever the table sizes: each count walks
    /// an index and stops at `countCap` rows, past which it is the planner's estimate (marked
    /// `estimated`). Read-only; safe to run every few seconds against a busy database.
    /// With `queue`, the per-queue metrics of that queue alone (the system-wide ones stay).
    public func databaseMetrics(countCap: Int = DatabaseMetric.defaultCountCap, queue: QueueName? = nil) async throws -> [DatabaseMetric] {
        guard (1...100_000_000).contains(countCap) else {
            throw MusterError(.invalidArgument, "countCap must be between 1 and 100000000")
        }
        return try await run(monitoringSQL.snapshot, [countCap, queue?.rawValue], retry: .idempotent).rows.map { row in
            DatabaseMetric(
                name: try row.decode(0),
                labels: JSONPayload(trusted: try row.decode(1)).asHeaders,
                value: try row.decode(2),
                estimated: try row.decode(3)
            )
        }
    }

    /// Messages sent to each queue in the last minute, from the dedup ledger (at most
    /// `cap` keys are walked; a queue sending faster shows the cap).
    public func sendsInTheLastMinute(cap: Int = DatabaseMetric.defaultCountCap) async throws -> [String: Int] {
        try await run(monitoringSQL.recentSends, [cap], retry: .idempotent).rows.reduce(into: [:]) { sends, row in
            sends[try row.decode(0)] = try row.decode(1)
        }
    }

    /// Every worker row, live ones first, with the leases each holds counted from at most
    /// `leaseCountCap` leased messages (`workers()` counts them all); `capped` is true when
    /// there were more, and the lease counts are then lower bounds.
    public func workers(leaseCountCap: Int) async throws -> (workers: [WorkerInfo], capped: Bool) {
        guard (1...100_000_000).contains(leaseCountCap) else {
            throw MusterError(.invalidArgument, "leaseCountCap must be between 1 and 100000000")
        }
        let rows = try await run(monitoringSQL.workers, [leaseCountCap], retry: .idempotent).rows
        return (try rows.map(WorkerInfo.init(row:)), try rows.first?.decode(13) ?? false)
    }

    /// The newest dead letters of one queue, or of every queue (the newest `limit` of each,
    /// merged), newest first.
    public func newestDeadLetters(queue: QueueName? = nil, limit: Int = 50) async throws -> [DeadLetter] {
        guard (1...1_000).contains(limit) else { throw MusterError(.invalidArgument, "limit must be between 1 and 1000") }
        return try await run(monitoringSQL.deadLettersPage, [queue?.rawValue, limit], retry: .idempotent).rows.map(DeadLetter.init(row:))
    }
}

extension Executions {
    /// One page of executions, newest first, starting after `cursor` (the first page when
    /// nil), filtered by status and pipeline. Each page walks an index from its cursor, so
    /// the thousandth page costs what the first does (no OFFSET).
    public func page(
        status: ExecutionStatus? = nil,
        pipeline: String? = nil,
        after cursor: ExecutionCursor? = nil,
        limit: Int = 50
    ) async throws -> ExecutionPage {
        guard (1...1_000).contains(limit) else { throw MusterError(.invalidArgument, "limit must be between 1 and 1000") }
        let sql = client.monitoringSQL
        let from: [(any PostgresEncodable)?] = [cursor?.createdAt ?? Date.distantFuture, cursor?.id ?? UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff"), limit]
        let rows: PostgresRows
        switch (status, pipeline) {
        case (let status, let pipeline?):
            rows = try await client.run(sql.executionsOfPipeline, [pipeline, status?.rawValue] + from, retry: .idempotent)
        case (let status?, nil):
            rows = try await client.run(sql.executionsOfStatus, [status.rawValue] + from, retry: .idempotent)
        case (nil, nil):
            rows = try await client.run(sql.executionsPage, from, retry: .idempotent)
        }
        let executions = try rows.rows.map(Self.execution(from:))
        let next = executions.count == limit ? executions.last.map { ExecutionCursor(createdAt: $0.createdAt, id: $0.id) } : nil
        return ExecutionPage(executions: executions, next: next)
    }
}
