public import Foundation

/// A handle on one execution of a pipeline, from the process that started it or any other:
/// its status, and its typed result once it completes.
public struct PipelineExecution<Output: Decodable & Sendable>: Sendable {
    /// The execution's id (`executions.id`).
    public let id: UUID
    /// False when `start` found an execution with the same idempotency key and started nothing.
    public let created: Bool
    let client: MusterClient

    /// The execution as it is now. Throws `unknownExecution` when there is none with this id.
    public func status() async throws -> Execution {
        guard let execution = try await client.executions.get(id) else {
            throw MusterError(.unknownExecution, "execution \(id.uuidString.lowercased()) does not exist")
        }
        return execution
    }

    /// Waits until the execution finishes and returns its output (see `Executions.wait`).
    ///
    /// Throws `executionFailed` (with the execution's error) when it failed or was canceled,
    /// `timeout` when it is still running after `timeout`, `unknownExecution`, or
    /// `invalidArgument` when the output does not decode as `Output`.
    public func result(timeout: Duration, decoder: JSONDecoder = JSONDecoder()) async throws -> Output {
        let execution = try await client.executions.wait(for: id, timeout: timeout)
        switch execution.status {
        case .completed:
            guard let output = execution.output else {
                throw MusterError(.database, "execution \(id) completed without an output")
            }
            return try output.decode(as: Output.self, decoder: decoder)
        default:
            throw MusterError(.executionFailed, "execution \(id) \(execution.status): \(execution.error ?? "no error recorded")")
        }
    }
}

extension Executions {
    /// Waits until the execution is terminal (completed, failed or canceled) and returns it,
    /// polling its row: first every few milliseconds, backing off to every 250 ms. Works from
    /// any process. Once it has reached the database (read the row, or lost a working
    /// connection), it keeps waiting through lost or refused connections (a failover, a
    /// restarting server) until `timeout`; a database it cannot connect to on the first try is
    /// an error at once (a wrong host or port would not heal by waiting an hour). Throws
    /// `executionStillOpen` when it is still open after `timeout` (naming the last connection
    /// error, if any), or `unknownExecution`.
    public func wait(for id: UUID, timeout: Duration) async throws -> Execution {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var interval = Duration.milliseconds(5)
        var last = "pending"
        var reached = false
        while true {
            do {
                guard let execution = try await get(id) else {
                    throw MusterError(.unknownExecution, "execution \(id.uuidString.lowercased()) does not exist")
                }
                reached = true
                if execution.status.isTerminal { return execution }
                last = "still \(execution.status)"
            } catch let error as MusterError where error.isServerUnavailable && (reached || error.code == .connectionLost) {
                // A lost connection was a working one: the database is there, and coming back.
                reached = true
                last = "unreachable: \(error)"
            }
            let left = deadline - clock.now
            guard left > .zero else {
                throw MusterError(.executionStillOpen, "execution \(id.uuidString.lowercased()) is \(last) after \(timeout)")
            }
            try await Task.sleep(for: min(interval, left))
            interval = min(interval * 2, .milliseconds(250))
        }
    }
}

extension MusterClient {
    /// Starts an execution of `pipeline`: creates it and enqueues its first message in one
    /// transaction (the caller's when given, so the execution exists only if it commits), and
    /// returns its handle.
    ///
    /// With an `idempotencyKey` already used for this pipeline, returns that execution
    /// (`created == false`) and enqueues nothing, whatever `input` is now; such a start is
    /// retried once after a lost connection. `summary` is stored as `executions.input_summary`
    /// for people reading the table. Throws `invalidArgument` (pipeline, key), `unknownQueue`
    /// or `payloadTooLarge`; nothing is written then.
    public func start<Input, Output>(
        _ pipeline: Pipeline<Input, Output>,
        input: Input,
        idempotencyKey: String? = nil,
        summary: JSONPayload? = nil,
        deadline: Date? = nil,
        in transaction: Transaction? = nil
    ) async throws -> PipelineExecution<Output> {
        try pipeline.validate()
        let payload = try JSONPayload(encoding: input)
        let start: @Sendable (Transaction) async throws -> PipelineExecution<Output> = { transaction in
            let created = try await self.executions.create(
                pipeline: pipeline.name, inputSummary: summary, idempotencyKey: idempotencyKey, deadline: deadline, in: transaction
            )
            if created.created {
                let message = OutgoingMessage(payload: payload, task: pipeline.startTask, executionID: created.id)
                try await self.queue(pipeline.queue).send(message, in: transaction)
                try await self.executions.recordStart(created.id, queue: pipeline.queue, task: pipeline.startTask, payload: payload, in: transaction)
            }
            return PipelineExecution(id: created.id, created: created.created, client: self)
        }
        if let transaction { return try await start(transaction) }
        // Only a keyed start is safe to repeat after an ambiguous commit.
        return try await withRetry(idempotencyKey == nil ? .once : .idempotent) {
            try await withTransaction(start)
        }
    }

    /// A handle on an existing execution of `pipeline`, e.g. to wait for its result from
    /// another process. Reads nothing until used.
    public func execution<Input, Output>(_ id: UUID, of pipeline: Pipeline<Input, Output>) -> PipelineExecution<Output> {
        PipelineExecution(id: id, created: false, client: self)
    }
}
