import CoreMetrics
import Foundation
import Metrics
import Logging

/// Writes the outcome of every delivery of one worker: its completer (River's job completer is
/// the model). A delivery hands its finished outcome over without waiting; its lease stays in
/// `Deliveries` (heartbeated) until the write is done.
///
/// Acks, barrier member completions and hand-backs each go through a `SettleLane` that writes
/// whatever has gathered in one statement and one commit (see `SettleBatching` for when);
/// when a batch is refused for its data it is bisected, so one bad item fails only itself.
/// Everything else (retries, dead letters, snoozes, a callback's finalization with its
/// continuation) is written on its own, concurrently. While the database is unavailable (a
/// restart, a failover) each write is retried with backoff for up to one visibility timeout
/// after its handler finished: the lease outlives a short outage. Past that, or on any other
/// error, the lease is left to expire and the message is delivered again.
///
/// `run` is started first and returns last, after `close`: the worker runs it shielded from
/// cancellation, so results of handlers that finished before a stop are still written.
final class Settler: Sendable {
    /// How long a result may wait for others to share its commit while handlers still run.
    static let linger: Duration = .milliseconds(5)

    private let worker: Worker
    private let queue: Queue
    private let deliveries: Deliveries
    private let policy: SettlePolicy
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let acks: SettleLane<FinishedDelivery>
    private let members: SettleLane<FinishedDelivery>
    private let handBacks: SettleLane<FinishedDelivery>
    private let singles: SettleLane<(FinishedDelivery, SettlePolicy.Step)>

    init(worker: Worker, queue: Queue, deliveries: Deliveries, policy: SettlePolicy, metrics: WorkerMetrics) {
        self.worker = worker
        self.queue = queue
        self.deliveries = deliveries
        self.policy = policy
        self.metrics = metrics
        logger = worker.logger
        let batching = SettleBatching<FinishedDelivery>(target: worker.options.batchSize, linger: Self.linger)
        acks = SettleLane(batching)
        members = SettleLane(batching)
        handBacks = SettleLane(batching)
        singles = SettleLane(SettleBatching(target: 1, linger: .zero))
    }

    /// Hands a finished delivery over; returns at once.
    func submit(_ delivery: FinishedDelivery) {
        let message = delivery.message
        switch policy.step(for: delivery.outcome, attempt: message.attempt, handedBack: Self.handedBack(message)) {
        case .complete(.ack): acks.submit(delivery)
        case .complete(.member): members.submit(delivery)
        case .handBack: handBacks.submit(delivery)
        case let step: singles.submit((delivery, step))
        }
    }

    /// The worker's handlers are idle: write what waits without lingering.
    func hurry() {
        [acks, members, handBacks].forEach { $0.hurry() }
    }

    /// No more deliveries will be submitted: `run` writes what is left and returns.
    func close() {
        [acks, members, handBacks].forEach { $0.close() }
    }

    /// Writes outcomes until closed and everything submitted is written. The lane of single
    /// writes closes after the batched lanes are done: a refused batch item goes on there.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await withDiscardingTaskGroup { lanes in
                    lanes.addTask { await self.acks.run(self.writeAcks) }
                    lanes.addTask { await self.members.run(self.writeMembers) }
                    lanes.addTask { await self.handBacks.run(self.writeHandBacks) }
                }
                self.singles.close()
            }
            await singles.run { batch in
                for (delivery, step) in batch {
                    group.addTask { await self.writeSingle(delivery, step) }
                }
            }
        }
    }

    // MARK: - Batched writes

    private func writeAcks(_ batch: [FinishedDelivery]) async {
        await writeBatch(batch) { [queue] items in
            let applied = Set(try await queue.ack(items.map(\.message.lease)).applied.map(\.messageID))
            return items.map { applied.contains($0.message.id) }
        } each: { delivery, applied in
            if applied { metrics.acked.increment() } else { leaseWasLost(delivery.message, while: "acking") }
        }
    }

    private func writeMembers(_ batch: [FinishedDelivery]) async {
        await writeBatch(batch) { [worker] items in
            try await worker.client.barriers.completeSucceeded(queue: worker.queue, items.map { item in
                guard case .succeeded(.member(let barrierID, let key, let result, let trace)) = item.outcome else {
                    preconditionFailure("only member completions go to the members lane")
                }
                return .init(lease: item.message.lease, barrierID: barrierID, key: key, result: result, trace: trace)
            })
        } each: { delivery, outcome in
            guard outcome.applied else { return leaseWasLost(delivery.message, while: "completing the member") }
            metrics.acked.increment()
            metrics.membersCompleted.increment()
            if outcome.fired, case .succeeded(.member(let barrierID, _, _, _)) = delivery.outcome {
                metrics.barriersFired.increment()
                logger.info("last member completed; callback enqueued", metadata: [
                    "barrier_id": "\(barrierID)", "callback_message_id": "\(outcome.callbackMessageID ?? 0)",
                ])
            }
        }
    }

    private func writeHandBacks(_ batch: [FinishedDelivery]) async {
        // A lease found gone here was handed back already or expired: nothing was lost.
        await writeBatch(batch) { [queue] items in
            let applied = Set(try await queue.snooze(items.map(\.message.lease)).applied.map(\.messageID))
            return items.map { applied.contains($0.message.id) }
        } each: { _, applied in
            if applied { metrics.snoozed.increment() }
        }
    }

    /// Writes a batch with `send`, retried while the database is unavailable, bisected when
    /// refused for its data; `each` records each applied outcome. A success whose write was
    /// refused goes on as `settleRefused`.
    private func writeBatch<Outcome: Sendable>(
        _ batch: [FinishedDelivery],
        _ send: @escaping @Sendable ([FinishedDelivery]) async throws -> [Outcome],
        each: (FinishedDelivery, Outcome) -> Void
    ) async {
        guard let deadline = batch.map(\.deadline).min() else { return }
        let client = worker.client
        let results = await sendBisecting(batch[...], isAboutTheData: Self.isAboutTheData) { items in
            try await client.waitingForServer("settling results", until: deadline, logLevel: .info) { try await send(items) }
        }
        for (delivery, result) in zip(batch, results) {
            switch result {
            case .success(let outcome):
                each(delivery, outcome)
            case .failure(let error) where Self.isAboutTheData(error) && delivery.isSuccess:
                logger.warning("settling a successful handler's result failed", metadata: ["message_id": "\(delivery.message.id)", "error": "\(error)"])
                var refused = delivery
                refused.outcome = .settleRefused("\(error)")
                submit(refused)
                continue
            case .failure(let error):
                couldNotSettle(delivery.message, error)
            }
            deliveries.settled(delivery.message.lease)
        }
    }

    // MARK: - Single writes

    /// Writes one step. A callback whose continuation failed counts as a handler failure; a
    /// success whose write was refused goes on as `settleRefused`; each of those is decided
    /// again once, as a retry, dead letter or snooze.
    private func writeSingle(_ delivery: FinishedDelivery, _ first: SettlePolicy.Step) async {
        let message = delivery.message
        var step = first
        while true {
            do {
                try await worker.client.waitingForServer("settling a result", until: delivery.deadline, logLevel: .info) {
                    try await write(step, for: message)
                }
                break
            } catch let failure as ContinuationFailed {
                let retryable = !(failure.underlying is NonRetryableError)
                step = policy.step(for: .failed("\(failure.underlying)", retryable: retryable), attempt: message.attempt, handedBack: Self.handedBack(message))
            } catch let error as MusterError where !error.isServerUnavailable && step.isCompletion {
                logger.warning("settling a successful handler's result failed", metadata: ["message_id": "\(message.id)", "error": "\(error)"])
                step = policy.step(for: .settleRefused("\(error)"), attempt: message.attempt, handedBack: Self.handedBack(message))
            } catch {
                couldNotSettle(message, error)
                break
            }
        }
        deliveries.settled(message.lease)
    }

    private func write(_ step: SettlePolicy.Step, for message: ReceivedMessage) async throws {
        switch step {
        case .complete(let completion):
            if try await complete(message, completion) { metrics.acked.increment() } else { leaseWasLost(message, while: "acking") }
        case .decide(let decision, let error):
            try await apply(decision, to: message, error: error)
        case .handBack:
            if try await queue.snooze([message.lease]).allApplied { metrics.snoozed.increment() }
        case .forget:
            leaseWasLost(message, while: "running")
        }
    }

    /// Carries out `decision` for the message; `error` is recorded by a retry or dead letter,
    /// and only logged for a snooze.
    private func apply(_ decision: SettlePolicy.Decision, to message: ReceivedMessage, error: String) async throws {
        let lease = message.lease
        switch decision {
        case .snooze(let delay):
            guard try await queue.snooze([lease], for: delay).allApplied else { return leaseWasLost(message, while: "snoozing") }
            metrics.snoozed.increment()
            logger.debug("snoozed", metadata: ["message_id": "\(message.id)", "reason": "\(error)", "delay": "\(delay)"])
        case .retry(let delay):
            guard try await queue.release([lease], delay: delay, error: error).allApplied else { return leaseWasLost(message, while: "releasing") }
            metrics.released.increment()
            logger.info("handler failed; retrying", metadata: ["message_id": "\(message.id)", "attempt": "\(message.attempt)", "error": "\(error)"])
        case .deadLetter(let reason):
            guard try await queue.deadLetter([lease], reason: reason, error: error).allApplied else {
                return leaseWasLost(message, while: "dead-lettering")
            }
            metrics.deadLettered.increment()
            logger.warning("dead-lettered", metadata: ["message_id": "\(message.id)", "reason": "\(reason)", "error": "\(error)"])
            await worker.options.onDeadLetter?(DeadLetterEvent(
                messageID: message.id, task: message.task, executionID: message.executionID,
                reason: reason, error: error, attempts: message.attempt
            ))
        }
    }

    /// Writes a success on its own; returns false when the lease was lost.
    private func complete(_ message: ReceivedMessage, _ completion: Completion) async throws -> Bool {
        let (client, queueName, lease) = (worker.client, worker.queue, message.lease)
        switch completion {
        case .ack:
            return try await queue.ack(lease)
        case .member(let barrierID, let key, let result, let trace):
            let outcome = try await client.barriers.completeSucceeded(
                queue: queueName, [.init(lease: lease, barrierID: barrierID, key: key, result: result, trace: trace)])
            return outcome.first?.applied ?? false
        case .finalize(let barrierID, _, let continuation):
            guard let continuation else {
                return try await client.barriers.finalize(queue: queueName, lease: lease, barrierID: barrierID).acked
            }
            // Finalize first: it locks the barrier row, so the continuation runs in exactly
            // one transaction, the one that finalized. Repeating the whole transaction after a
            // lost connection is safe: a committed one left finalized_at set.
            return try await client.withRetry(.idempotent) {
                try await client.withTransaction { transaction in
                    let outcome = try await client.barriers.finalize(queue: queueName, lease: lease, barrierID: barrierID, in: transaction)
                    guard outcome.finalized else { return outcome.acked }
                    do {
                        try await continuation(transaction)
                    } catch let error as MusterError where error.isServerUnavailable {
                        throw error     // not the continuation's fault: the settle tries again
                    } catch {
                        throw ContinuationFailed(underlying: error)
                    }
                    return outcome.acked
                }
            }
        }
    }

    // MARK: - Reporting

    private func leaseWasLost(_ message: ReceivedMessage, while step: String) {
        metrics.leaseLost.increment()
        logger.warning("lease_lost", metadata: ["message_id": "\(message.id)", "read_ct": "\(message.readCount)", "step": "\(step)"])
    }

    private func couldNotSettle(_ message: ReceivedMessage, _ error: any Error) {
        logger.error("could not settle a lease; it will expire and be redelivered", metadata: ["message_id": "\(message.id)", "error": "\(error)"])
    }

    /// Times the message was handed back without using an attempt.
    private static func handedBack(_ message: ReceivedMessage) -> Int { Int(message.readCount) - message.attempt }

    /// Errors a smaller batch could avoid: not an unavailable server (a lost or refused
    /// connection, a timeout, a server shutting down or read-only).
    private static func isAboutTheData(_ error: any Error) -> Bool {
        guard let error = error as? MusterError else { return false }
        return !error.isServerUnavailable
    }
}

/// A callback's continuation failed: the finalize transaction rolled back.
private struct ContinuationFailed: Error {
    var underlying: any Error
}

private extension FinishedDelivery {
    var isSuccess: Bool {
        if case .succeeded = outcome { return true }
        return false
    }
}

private extension SettlePolicy.Step {
    var isCompletion: Bool {
        if case .complete = self { return true }
        return false
    }
}
