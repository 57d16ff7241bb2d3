public import Foundation
import Logging

extension Worker {
    /// Registers a barrier member handler for `task`: its return value is the member's
    /// result. On success the message's fenced ack and the member's record happen in one
    /// statement, and the completion that leaves no member outstanding enqueues the barrier's
    /// callback, once. A failure is retried like any other; when the message is dead-lettered
    /// the member counts as failed and its barrier's failure policy decides.
    public mutating func registerMember<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        task: String,
        as input: Input.Type = Input.self,
        decoder: JSONDecoder = JSONDecoder(),
        _ handler: @escaping @Sendable (Input, HandlerContext) async throws -> Output
    ) {
        let decoder = UncheckedDecoder(decoder)
        registerMember(task: task) { payload, context in
            try JSONPayload(encoding: try await handler(try decoder.decode(payload), context))
        }
    }

    /// The untyped form of `registerMember`: payload in, result out, as JSON.
    mutating func registerMember(
        task: String,
        _ handler: @escaping @Sendable (JSONPayload, HandlerContext) async throws -> JSONPayload
    ) {
        handlers[task] = { payload, context in
            guard let barrierID = context.barrierID, let key = context.memberKey else {
                throw NonRetryableError(MusterError(.invalidArgument, "message \(context.messageID) is not a barrier member (no muster-barrier/muster-member headers)"))
            }
            let result = try await handler(payload, context)
            return .member(barrierID: barrierID, key: key, result: result, trace: MessageTracing.currentHeaders())
        }
    }

    /// Registers a barrier's aggregating callback for `task`. The handler gets the callback
    /// payload and every member's outcome (ordered by key, one query). On success the barrier
    /// is finalized and the message acked in one statement; a redelivered callback whose
    /// barrier is already finalized does not run the handler again (its side effects are not
    /// repeated) and is just acked.
    public mutating func registerCallback<Payload: Decodable & Sendable>(
        task: String,
        as payload: Payload.Type = Payload.self,
        decoder: JSONDecoder = JSONDecoder(),
        _ handler: @escaping @Sendable (Payload, BarrierCallback, HandlerContext) async throws -> Void
    ) {
        let decoder = UncheckedDecoder(decoder)
        registerCallback(task: task) { payload, callback, context in
            try await handler(try decoder.decode(payload), callback, context)
            return nil
        }
    }

    /// The untyped form of `registerCallback`. The handler may return a continuation: work
    /// committed in the transaction that finalizes the barrier, so it happens exactly once.
    mutating func registerCallback(
        task: String,
        _ handler: @escaping @Sendable (JSONPayload, BarrierCallback, HandlerContext) async throws -> Completion.Continuation?
    ) {
        let barriers = client.barriers
        handlers[task] = { payload, context in
            guard let barrierID = context.barrierID else {
                throw NonRetryableError(MusterError(.invalidArgument, "message \(context.messageID) is not a barrier callback (no muster-barrier header)"))
            }
            guard let barrier = try await barriers.barrier(barrierID) else {
                throw NonRetryableError(MusterError(.unknownExecution, "barrier \(barrierID) does not exist"))
            }
            if barrier.isFinalized {
                context.logger.info("callback already finalized; skipping its side effects", metadata: ["barrier_id": "\(barrierID)"])
                return .finalize(barrierID: barrierID, skipped: true)
            }
            let members = try await barriers.members(of: barrierID)
            let continuation = try await handler(payload, BarrierCallback(barrier: barrier, members: members), context)
            return .finalize(barrierID: barrierID, skipped: false, then: continuation)
        }
    }
}
