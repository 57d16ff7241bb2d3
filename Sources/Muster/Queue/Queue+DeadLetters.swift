public import Foundation
internal import MusterPostgres

/// A message that left the queue for good: poisoned, failed past its attempts, or moved
/// explicitly. Its execution id is a column, so the execution can be marked failed.
public struct DeadLetter: Sendable {
    public var id: Int64
    public var queue: String
    public var payload: JSONPayload
    public var headers: [String: String]
    public var task: String?
    public var executionID: UUID?
    public var priority: Int16
    public var dedupKey: String
    public var enqueuedAt: Date
    /// Deliveries made; `readCount - snoozes - errorCount` of them died without recording an
    /// error.
    public var readCount: Int32
    public var errorCount: Int32
    /// Deliveries handed back without using an attempt (`Queue.snooze`).
    public var snoozes: Int32
    /// The last recorded error; nil means the deliveries died without recording one (crashes).
    public var lastError: String?
    /// `max_attempts`, `non_retryable`, `explicit`, …
    public var reason: String
    public var deadAt: Date
}

extension DeadLetter {
    /// Decodes a row in `QueueSQL.deadLetterColumns` order.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode(0), queue: try row.decode(1), payload: JSONPayload(trusted: try row.decode(2)),
            headers: try row.decodeIfPresent(3, as: String.self).map { JSONPayload(trusted: $0).asHeaders } ?? [:],
            task: try row.decodeIfPresent(4), executionID: try row.decodeIfPresent(5), priority: try row.decode(6),
            dedupKey: try row.decode(7), enqueuedAt: try row.decode(8), readCount: try row.decode(9),
            errorCount: try row.decode(10), snoozes: try row.decode(14), lastError: try row.decodeIfPresent(11),
            reason: try row.decode(12), deadAt: try row.decode(13)
        )
    }
}

extension Queue {
    /// The newest dead letters first (at most `limit`), or the one with `id`. Throws
    /// `unknownQueue` for a queue that does not exist (an empty list means none died).
    public func deadLetters(id: Int64? = nil, limit: Int = 100) async throws -> [DeadLetter] {
        guard (1...10_000).contains(limit) else { throw MusterError(.invalidArgument, "limit must be between 1 and 10000") }
        return try await client.run(sql.listDeadLetters, [name.rawValue, id, limit], retry: .idempotent).rows.map(DeadLetter.init(row:))
    }

    /// Puts dead letters back as ready messages with every attempt ahead of them, keeping
    /// their read count (it fences leases: a holder from before the dead letter cannot touch
    /// the new deliveries), payload, headers, task, execution, id and dedup key. The filters combine; all nil means every
    /// dead letter of this queue. Returns the requeued messages' ids.
    @discardableResult
    public func requeueDeadLetters(ids: [Int64]? = nil, reason: String? = nil, task: String? = nil) async throws -> [Int64] {
        try await client.run(sql.requeueDeadLetters, [name.rawValue, ids, reason, task], retry: .idempotent)
            .rows.map { try $0.decode(0) }
    }

    /// Deletes dead letters older than `olderThan` (all when nil). Returns how many.
    @discardableResult
    public func purgeDeadLetters(olderThan: Duration? = nil) async throws -> Int {
        try await client.run(sql.purgeDeadLetters, [name.rawValue, olderThan], retry: .idempotent).single().decode(0)
    }
}
