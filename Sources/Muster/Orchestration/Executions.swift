public import Foundation
internal import MusterPostgres

/// Executions of a client's schema: create, read and move through their statuses.
///
/// Every status change goes through the schema's transition guard: an illegal one (out of a
/// terminal state, or skipping `running`) throws `illegalTransition` and changes nothing.
public struct Executions: Sendable {
    let client: MusterClient
    private var sql: OrchestrationSQL { client.orchestrationSQL }

    /// What `create` did.
    public struct Created: Sendable, Hashable {
        /// The execution's id (the existing one when the idempotency key was known).
        public var id: UUID
        /// False when an execution with this pipeline and idempotency key already existed.
        public var created: Bool
    }

    /// Creates a pending execution. With an `idempotencyKey` already used for `pipeline`,
    /// returns that execution (created = false) and changes nothing, also when two callers
    /// race. With `transaction`, the execution exists only if the caller's transaction commits.
    /// Throws `invalidArgument` for a bad pipeline name (1–100 of `A-Za-z0-9_.:-`) or key.
    @discardableResult
    public func create(
        pipeline: String,
        inputSummary: JSONPayload? = nil,
        idempotencyKey: String? = nil,
        deadline: Date? = nil,
        in transaction: Transaction? = nil
    ) async throws -> Created {
        let parameters: [(any PostgresEncodable)?] = [
            pipeline, inputSummary.map { PostgresJSON(text: $0.text) }, idempotencyKey, deadline,
        ]
        // Safe to repeat only with a key: a keyless retry could create a second execution.
        let retry: RetryPolicy = idempotencyKey == nil ? .once : .idempotent
        let row = try await client.run(sql.createExecution, parameters, in: transaction, retry: retry).single()
        return Created(id: try row.decode(0), created: try row.decode(1))
    }

    /// The execution, or nil when there is none with this id.
    public func get(_ id: UUID) async throws -> Execution? {
        let rows = try await client.run(sql.getExecution, [id], retry: .idempotent)
        return try rows.rows.first.map(Self.execution(from:))
    }

    /// Locks the execution's row in `transaction` until it ends and returns its status (nil
    /// when unknown): work that must not race a status change (failing, canceling) checks
    /// the status under this lock.
    func lockStatus(_ id: UUID, in transaction: Transaction) async throws -> ExecutionStatus? {
        let rows = try await client.run(sql.lockExecution, [id], on: transaction.connection)
        return try rows.rows.first.flatMap { ExecutionStatus(rawValue: try $0.decode(0)) }
    }

    /// Moves an execution to `status`, optionally recording its stage, output or error, and
    /// returns it as it is now. Throws `illegalTransition` (nothing changed) or
    /// `unknownExecution`.
    @discardableResult
    public func transition(
        _ id: UUID,
        to status: ExecutionStatus,
        stage: String? = nil,
        output: JSONPayload? = nil,
        error: String? = nil,
        in transaction: Transaction? = nil
    ) async throws -> Execution {
        let parameters: [(any PostgresEncodable)?] = [
            id, status.rawValue, stage, output.map { PostgresJSON(text: $0.text) }, error.map(Queue.clip),
        ]
        // Not retried: after an ambiguous commit the repeat would report an illegal
        // transition for a change that happened.
        let rows = try await client.run(sql.transitionExecution, parameters, in: transaction, retry: .once)
        return try Self.execution(from: try rows.single())
    }

    /// Cancels an open execution: it becomes `canceled` (with `reason` as its error), its armed
    /// barriers are canceled (they never fire, so no callback runs), and its messages are
    /// deleted in the same transaction, also those being handled: their workers' next
    /// heartbeat finds the lease gone and cancels the handlers, whose results are not
    /// counted. Returns false (and changes nothing) when it was already terminal, with the
    /// number of messages removed. Throws `unknownExecution`.
    @discardableResult
    public func cancel(_ id: UUID, reason: String? = nil) async throws -> (canceled: Bool, messagesRemoved: Int) {
        let row = try await client.run(sql.cancelExecution, [id, reason.map(Queue.clip)], retry: .idempotent).single()
        return (try row.decode(0), try row.decode(1))
    }

    /// Records the message that started an execution, so `retry` can start it again.
    func recordStart(_ id: UUID, queue: QueueName, task: String, payload: JSONPayload, in transaction: Transaction) async throws {
        _ = try await client.run(sql.recordStart, [id, queue.rawValue, task, PostgresJSON(text: payload.text)], on: transaction.connection)
    }

    /// Starts a failed or canceled execution again from the start: a new execution of the
    /// same pipeline with the same input (the old one's start message), linked to the old one
    /// (`retry_of`), in one transaction. Nothing of the old run is reused: handlers run again,
    /// so they must be idempotent, as at-least-once delivery already asks. Asked again, returns
    /// the retry that exists (`created == false`). Throws `unknownExecution`,
    /// `illegalTransition` (not failed or canceled) or `invalidArgument` (started before
    /// schema 12, so its start was not recorded).
    @discardableResult
    public func retry(_ id: UUID) async throws -> (id: UUID, created: Bool) {
        let row = try await client.run(sql.retryExecution, [id], retry: .idempotent).single()
        return (try row.decode(0), try row.decode(1))
    }

    /// Executions, newest first, filtered by status, pipeline and creation time.
    public func list(status: ExecutionStatus? = nil, pipeline: String? = nil, since: Date? = nil, limit: Int = 100) async throws -> [Execution] {
        guard (1...10_000).contains(limit) else { throw MusterError(.invalidArgument, "limit must be between 1 and 10000") }
        let rows = try await client.run(sql.listExecutions, [status?.rawValue, pipeline, since, limit], retry: .idempotent)
        return try rows.rows.map(Self.execution(from:))
    }

    /// Decodes a row in `OrchestrationSQL.executionColumns` order.
    static func execution(from row: PostgresRow) throws -> Execution {
        let statusText: String = try row.decode(3)
        guard let status = ExecutionStatus(rawValue: statusText) else {
            throw MusterError(.database, "unknown execution status \(statusText)")
        }
        return Execution(
            id: try row.decode(0),
            pipeline: try row.decode(1),
            stage: try row.decodeIfPresent(2),
            status: status,
            idempotencyKey: try row.decodeIfPresent(4),
            inputSummary: try row.decodeIfPresent(5, as: String.self).map(JSONPayload.init(trusted:)),
            output: try row.decodeIfPresent(6, as: String.self).map(JSONPayload.init(trusted:)),
            error: try row.decodeIfPresent(7),
            deadline: try row.decodeIfPresent(8),
            createdAt: try row.decode(9),
            updatedAt: try row.decode(10),
            finishedAt: try row.decodeIfPresent(11)
        )
    }
}

extension MusterClient {
    /// The executions of this client's schema.
    public var executions: Executions { Executions(client: self) }
}
