public import Foundation
internal import MusterPostgres

/// Where a set of executions stands, counted in one query: their statuses, each stage's
/// members, and what happened to their messages. What a progress display or a run summary
/// needs; the counts come from the tables, so they agree with a person's `SELECT`s.
public struct ExecutionSetStats: Sendable, Hashable, Codable {
    /// One stage (barrier name) summed over the executions that armed it.
    public struct Stage: Sendable, Hashable, Codable {
        public var name: String
        /// Barriers armed under this name.
        public var barriers: Int
        /// Barriers whose callback completed (finalized).
        public var finalized: Int
        /// Members armed, completed (succeeded or failed), and failed.
        public var members: Int
        public var membersDone: Int
        public var membersFailed: Int
    }

    /// Executions by status (`completed`, `running`, …); statuses with none are absent.
    public var executions: [String: Int]
    /// Stages in the order they were first armed.
    public var stages: [Stage]
    /// Messages still in the queue (ready, delayed or leased).
    public var messagesWaiting: Int
    /// Of those, leased by a worker now.
    public var messagesLeased: Int
    /// Messages acked into the archive (only for queues that archive on ack).
    public var messagesArchived: Int
    /// Deliveries of every message counted here (sum of read counts).
    public var deliveries: Int
    /// Deliveries beyond each message's first: retries after errors, expired leases, crashes.
    public var retries: Int
    /// Messages dead-lettered.
    public var deadLetters: Int
    /// Barrier callback messages acked into the archive (at most one per barrier exists).
    public var callbacksArchived: Int

    /// Executions in `status`.
    public func count(_ status: ExecutionStatus) -> Int { executions[status.rawValue] ?? 0 }
}

extension Executions {
    /// Counts for the executions `ids` (at most 10,000) in one statement.
    public func stats(of ids: [UUID]) async throws -> ExecutionSetStats {
        guard ids.count <= 10_000 else { throw MusterError(.invalidArgument, "stats cover at most 10000 executions") }
        let row = try await client.run(client.inspectionSQL.executionSetStats, [ids], retry: .idempotent).single()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return ExecutionSetStats(
            executions: try decoder.decode([String: Int].self, from: Data(try row.decode(0, as: String.self).utf8)),
            stages: try decoder.decode([ExecutionSetStats.Stage].self, from: Data(try row.decode(1, as: String.self).utf8)),
            messagesWaiting: try row.decode(2),
            messagesLeased: try row.decode(3),
            messagesArchived: try row.decode(4),
            deliveries: try row.decode(5),
            retries: try row.decode(6),
            deadLetters: try row.decode(7),
            callbacksArchived: try row.decode(8)
        )
    }
}
