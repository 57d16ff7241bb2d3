import Foundation
import Logging

extension Worker {
    /// Registers every handler of `pipeline`: its start (the first stage's split, guarded by
    /// an orchestration claim), and each stage's parts and aggregate. The worker must consume
    /// the pipeline's queue. See `Pipeline` for what is guaranteed.
    ///
    /// Its tasks are `<pipeline>/start`, `<pipeline>/<stage>/part` and
    /// `<pipeline>/<stage>/aggregate`. Throws `invalidArgument` for an invalid pipeline, one
    /// on another queue, or one whose tasks already have handlers on this worker.
    public mutating func register<Input, Output>(_ pipeline: Pipeline<Input, Output>, claimTTL: Duration = .seconds(30)) throws {
        try pipeline.validate()
        guard pipeline.queue == queue else {
            throw MusterError(.invalidArgument, "pipeline \(pipeline.name) runs on queue \(pipeline.queue), this worker consumes \(queue)")
        }
        if let taken = pipeline.tasks.first(where: { handlers[$0] != nil }) {
            throw MusterError(.invalidArgument, "task \(taken) of pipeline \(pipeline.name) already has a handler on this worker")
        }
        let client = self.client
        let stages = pipeline.stages
        registerOrchestrator(task: pipeline.startTask, step: "start", claimTTL: claimTTL) { input, claim, context in
            let executionID = try context.requireExecutionID()
            let parts = try await stages[0].split(input, context)
            let fanOut = pipeline.fanOut(stage: 0, executionID: executionID, input: input, parts: parts)
            // The fan-out and the claim's tombstone commit together: a crash after the commit
            // finds the step finished, a crash before it leaves nothing to split twice.
            try await Self.invalidInputIsFinal {
                try await client.withTransaction { transaction in
                    try await client.barriers.fanOut(fanOut, in: transaction)
                    guard try await client.claims.finish(claim, in: transaction) else { throw Snooze.claimLost(step: claim.step) }
                }
            }
        }
        for (index, stage) in stages.enumerated() {
            registerMember(task: pipeline.partTask(stage), stage.process)
            registerCallback(task: pipeline.aggregateTask(stage)) { input, callback, context in
                let executionID = try context.requireExecutionID()
                // A fail-fast barrier that tripped has already failed the execution; one that
                // was failed or canceled meanwhile gets no more work. Finalize only.
                guard callback.barrier.status == .fired,
                      let execution = try await client.executions.get(executionID), !execution.status.isTerminal
                else { return nil }
                let results = callback.succeeded.map { $0.result ?? JSONPayload(trusted: "null") }
                let output = try await stage.aggregate(input, results, context)
                if index + 1 < stages.count {
                    let parts = try await stages[index + 1].split(output, context)
                    let next = pipeline.fanOut(stage: index + 1, executionID: executionID, input: output, parts: parts)
                    return { transaction in
                        guard try await client.executions.lockStatus(executionID, in: transaction)?.isTerminal == false else { return }
                        try await Self.invalidInputIsFinal { try await client.barriers.fanOut(next, in: transaction) }
                    }
                }
                return { transaction in
                    guard try await client.executions.lockStatus(executionID, in: transaction)?.isTerminal == false else { return }
                    try await client.executions.transition(executionID, to: .completed, output: output, in: transaction)
                }
            }
        }
    }

    /// A fan-out refused for its input (too many parts, a part over the payload limit) fails
    /// the same way every time: dead-letter it at once instead of retrying.
    private static func invalidInputIsFinal(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as MusterError where error.code == .invalidArgument || error.code == .payloadTooLarge {
            throw NonRetryableError(error)
        }
    }
}

extension HandlerContext {
    /// The execution of a pipeline message; one without is malformed and not retried.
    func requireExecutionID() throws -> UUID {
        guard let executionID else {
            throw NonRetryableError(MusterError(.invalidArgument, "pipeline message \(messageID) has no execution id"))
        }
        return executionID
    }
}
