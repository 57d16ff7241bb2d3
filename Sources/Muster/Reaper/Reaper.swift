import CoreMetrics
import Foundation
public import Logging
import Metrics
internal import MusterPostgres
public import ServiceLifecycle

/// Sweeps what nobody else will: barriers and executions past their deadline (failed once,
/// naming the missing members; never while their work runs or waits out a retry backoff),
/// expired claims, tombstones of terminal executions, archive and dead letters past
/// retention (whole day partitions dropped, created days ahead), expired dedup keys, stale
/// worker rows, and hot indexes a held snapshot left bloated. A swift-service-lifecycle
/// `Service`; run one in every worker process: a leader lease elects one at a time, and a
/// new leader takes over about one lease period after the leader dies. Each sweep is fenced by the lease's token.
public struct Reaper: Service {
    public let options: ReaperOptions
    let client: MusterClient
    let logger: Logger
    /// Names this process in `leader_leases.holder`.
    let holder: String

    public init(client: MusterClient, options: ReaperOptions = ReaperOptions(), logger: Logger? = nil) {
        self.client = client
        self.options = options
        self.logger = logger ?? client.logger
        self.holder = "\(client.options.workerID)/reaper"
    }

    /// Runs until graceful shutdown or cancellation, then resigns leadership at once.
    ///
    /// Started while the database is unreachable, restarting or read-only, it waits for it
    /// (as a running reaper rides out the same outage); throws at once when waiting cannot
    /// help: `invalidArgument`, `connectFailed` for a refused login, or a schema that is
    /// missing or of another version.
    public func run() async throws {
        try options.validate()
        do {
            try await cancelWhenGracefulShutdown {
                try await client.waitingForServer("starting the reaper") {
                    try await Migrator(database: client.database, schema: client.schema, logger: logger).requireCurrent()
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return      // told to stop while it waited for the database
        }
        let sql = client.orchestrationSQL
        var token: Int64?
        var lastSweep: ContinuousClock.Instant?
        var compaction = IndexCompaction()      // remembers a held snapshot from one sweep to the next
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let row = try await client.run(sql.acquireLeadership, ["reaper", holder, options.leaseTTL], retry: .idempotent).single()
                let leader: Bool = try row.decode(0)
                let current: Int64 = try row.decode(1)
                if leader && token != current { logger.info("reaper: became leader", metadata: ["token": "\(current)"]) }
                if !leader && token != nil {
                    let current: String = try row.decode(2)
                    logger.info("reaper: lost leadership", metadata: ["leader": "\(current)"])
                }
                token = leader ? current : nil
                if let token, lastSweep.map({ ContinuousClock.now - $0 >= options.sweepInterval }) ?? true {
                    let counts = try await sweep(token: token, compaction: &compaction)
                    lastSweep = .now
                    // A full batch means more is waiting: sweep again after a breath, not an interval.
                    if counts.contains(where: { !Self.unbatchedKinds.contains($0.key) && $0.value >= options.batchSize }) {
                        lastSweep = nil
                        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(50)) }
                        continue
                    }
                }
            } catch {
                logger.warning("reaper: pass failed; retrying", metadata: ["error": "\(error)"])
            }
            // A graceful shutdown ends the wait at once (and then the loop).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: min(options.leaseTTL / 4, options.sweepInterval)) }
        }
        if let token {
            _ = try? await uncancellable {
                try await client.run(sql.resignLeadership, ["reaper", holder, token], retry: .idempotent)
            }
        }
    }

    /// Takes (or renews) leadership and sweeps once. Returns what the sweep did per kind
    /// (`expired_barriers`, `expired_executions`, `expired_claims`, `tombstones`,
    /// `retention`, `stale_workers`, `executions` past `executionRetention`,
    /// `partitions_created` ahead for archive, dead letters and barrier members,
    /// `partitions_dropped`: the rows of the expired partitions it dropped (members only with
    /// an `executionRetention`), and `indexes_rebuilt`: 1 when it rebuilt a
    /// bloated hot index), or nil when another process leads. A single sweep does not know
    /// whether a held snapshot has just ended (the running reaper remembers it from sweep to
    /// sweep), so it rebuilds only an index that grew very large.
    public func sweepOnce() async throws -> [String: Int]? {
        var compaction = IndexCompaction()
        return try await sweepOnce(compaction: &compaction)
    }

    /// `sweepOnce()` with the index rebuild rules' memory of earlier sweeps (a held snapshot
    /// seen), as the running reaper keeps it.
    func sweepOnce(compaction: inout IndexCompaction) async throws -> [String: Int]? {
        try options.validate()
        let row = try await client.run(
            client.orchestrationSQL.acquireLeadership, ["reaper", holder, options.leaseTTL], retry: .idempotent
        ).single()
        guard try row.decode(0, as: Bool.self) else { return nil }
        return try await sweep(token: try row.decode(1), compaction: &compaction)
    }

    /// Kinds that are not batch counts (whole days, one index): a large one does not mean
    /// more is waiting.
    static let unbatchedKinds: Set<String> = ["partitions_created", "partitions_dropped", "indexes_rebuilt"]

    /// One sweep; logs and counts what it did.
    @discardableResult
    private func sweep(token: Int64, compaction: inout IndexCompaction) async throws -> [String: Int] {
        let sql = client.orchestrationSQL
        // Partitions first: an expired day (or range of barrier members) goes whole before the
        // row sweeps could take its rows one by one.
        let partitions = try await kindCounts(sql.maintainHistoryPartitions, [holder, token, options.executionRetention])
        var counts = try await kindCounts(sql.reap, [holder, token, options.tombstoneRetention, options.batchSize])
        if let retention = options.executionRetention, !counts.isEmpty {
            counts["executions"] = try await client.run(
                sql.sweepExecutions, [holder, token, retention, options.batchSize], retry: .idempotent
            ).single().decodeIfPresent(0) ?? 0
        }
        if !counts.isEmpty { counts.merge(partitions) { $1 } }
        if options.compactsHotIndexes && !counts.isEmpty {
            counts["indexes_rebuilt"] = try await compactHotIndexes(&compaction) ? 1 : 0
        }
        for (kind, count) in counts {
            guard count > 0 else { continue }
            Counter(label: "muster_reaper_swept_total", dimensions: [("kind", kind)]).increment(by: count)
            logger.info("reaper swept", metadata: ["kind": "\(kind)", "count": "\(count)"])
        }
        return counts
    }

    /// Runs a fenced sweep statement that returns (kind, count) rows.
    private func kindCounts(_ statement: Statement, _ parameters: [(any PostgresEncodable)?]) async throws -> [String: Int] {
        let rows = try await client.run(statement, parameters, retry: .idempotent)
        var counts: [String: Int] = [:]
        for row in rows.rows { counts[try row.decode(0)] = try row.decode(1) }
        return counts
    }
}
