import CoreMetrics
import Metrics
import Foundation
import Logging
internal import MusterPostgres
import ServiceLifecycle
import Synchronization

/// The running state of one `Worker`: fetch loop, heartbeat loop, handler tasks.
final class WorkerRuntime: Sendable {
    private let worker: Worker
    private let queue: Queue
    private let visibilityTimeout: Duration
    private let policy: SettlePolicy
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let inFlight = InFlightRegistry()
    /// Group commit for acks and for barrier member completions.
    private let acks: GroupCommit<Lease, Bool>
    private let members: GroupCommit<Barriers.SucceededMember, MemberCompletion>
    private let slots: RunSlots
    private let draining = Atomic<Bool>(false)
    /// Messages whose handler returned and whose settle (ack, completion) is in flight.
    private let settling = Atomic<Int>(0)

    init(worker: Worker) async throws {
        self.worker = worker
        self.queue = worker.client.queue(worker.queue)
        let (queue, barriers, name) = (self.queue, worker.client.barriers, worker.queue)
        self.acks = GroupCommit { leases in
            let applied = Set(try await queue.ack(leases).applied.map(\.messageID))
            return leases.map { applied.contains($0.messageID) }
        }
        self.members = GroupCommit { try await barriers.completeSucceeded(queue: name, $0) }
        let settings = try await worker.client.settings(of: worker.queue)
        visibilityTimeout = worker.options.visibilityTimeout ?? settings.visibilityTimeout
        policy = SettlePolicy(
            maxAttempts: worker.options.maxAttempts ?? settings.maxAttempts,
            backoff: worker.options.backoff ?? RetryBackoff(base: settings.retryBackoffBase, max: settings.retryBackoffMax)
        )
        logger = worker.logger
        metrics = WorkerMetrics(queue: worker.queue)
        slots = RunSlots(worker.options.concurrency)
    }

    private var isDraining: Bool { draining.load(ordering: .acquiring) }

    /// Registers the worker (its first heartbeat row).
    func announce() async throws {
        try await recordHeartbeat()
    }

    func run() async throws {
        let heartbeat = Task { await heartbeatLoop() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await fetchLoop()
            } onGracefulShutdown: {
                self.beginDrain()
            }
            await drain()
        } onCancel: {
            // Cancelled outright (a second signal, or the group's deadline): stop now, but
            // still hand every lease back.
            self.beginDrain()
            _ = self.inFlight.cancelAll()
        }
        heartbeat.cancel()
        _ = try? await uncancellable { [worker] in try await worker.client.run(WorkerSQL.shared(for: worker.client).stopped, [worker.id], retry: .idempotent) }
        logger.info("worker stopped")
    }

    private func beginDrain() {
        guard !draining.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("draining: no new reads; running handlers may finish")
        slots.drain()
        inFlight.poke()
    }

    // MARK: - Reading

    private func fetchLoop() async {
        let hub = worker.client.notifications
        let channel = queue.notificationChannel
        let listening = (try? await hub.listen(channel)) ?? false
        var changes = inFlight.changed.makeAsyncIterator()
        var failures = 0
        let budget = ReadBudget(
            concurrency: worker.options.concurrency, prefetch: worker.options.prefetch, batchSize: worker.options.batchSize
        )
        while !isDraining && !Task.isCancelled {
            guard let limit = budget.nextRead(held: inFlight.count, settling: settling.load(ordering: .relaxed)) else {
                _ = await changes.next()
                continue
            }
            let token = hub.token(for: channel.name)
            do {
                let messages = try await queue.read(limit: limit, visibilityTimeout: visibilityTimeout, reader: worker.id)
                failures = 0
                metrics.read.increment(by: messages.count)
                for message in messages { start(message) }
                if !messages.isEmpty { continue }
            } catch {
                // A stop cancels the read in flight: that is the loop ending, not a failure.
                if Task.isCancelled || error is CancellationError { break }
                failures += 1
                let pause = RetryBackoff.reconnect.ceiling(afterAttempt: failures)
                logger.warning("read failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(pause)"])
                try? await Task.sleep(for: pause)
                continue
            }
            if listening {
                _ = await hub.wait(for: channel.name, since: token, timeout: worker.options.pollInterval)
            } else {
                try? await Task.sleep(for: worker.options.pollInterval)
            }
        }
    }

    private func start(_ message: ReceivedMessage) {
        inFlight.add(message.lease)
        let task = Task { await self.deliver(message) }
        inFlight.attach(task, to: message.lease)
    }

    // MARK: - Handling

    private enum Outcome {
        case succeeded(Completion)
        case failed(String, retryable: Bool)
        /// Handed back without using an attempt: the handler threw `Snooze`, or its result
        /// could not be written.
        case snoozed(Snooze)
        case leaseLost
        /// The worker is stopping: handed back at once, without using an attempt.
        case interrupted
    }

    private func deliver(_ message: ReceivedMessage) async {
        defer { inFlight.remove(message.lease) }
        guard await slots.acquire() else {
            // Prefetched but never started, and the worker is draining: hand it back now.
            await settle(message, .interrupted)
            return
        }
        let outcome = await runHandler(message)
        // The handler's slot is free once it returns: settling is bookkeeping, and acks of
        // handlers that finish meanwhile are group-committed. The message stays in flight
        // (heartbeated) until it is settled, but the fetch loop may read in its place.
        inFlight.markSettling(message.lease)
        slots.release()
        settling.add(1, ordering: .relaxed)
        inFlight.poke()
        // Settle even when this task was cancelled, so the write is not refused.
        await uncancellable { await self.settle(message, outcome) }
        settling.subtract(1, ordering: .relaxed)
    }

    private func runHandler(_ message: ReceivedMessage) async -> Outcome {
        var logger = self.logger
        logger[metadataKey: "message_id"] = "\(message.id)"
        logger[metadataKey: "task"] = "\(message.task ?? "-")"
        if let execution = message.executionID { logger[metadataKey: "execution_id"] = "\(execution)" }
        metrics.lag.recordInterval(since: message.enqueuedAt)
        guard let task = message.task, let handler = worker.handlers[task] else {
            return .failed("no handler registered for task \(message.task ?? "(none)")", retryable: true)
        }
        let context = HandlerContext(
            queue: worker.queue, messageID: message.id, task: task, executionID: message.executionID,
            attempt: message.attempt, previousErrors: Int(message.errorCount), headers: message.headers,
            barrierID: message.headers["muster-barrier"].flatMap { Int64($0) }, memberKey: message.headers["muster-member"],
            leaseDeadline: message.leaseExpiresAt, logger: logger
        )
        let started = ContinuousClock.now
        defer { metrics.handlerDuration.record(duration: ContinuousClock.now - started) }
        do {
            let completion = try await withTimeLimit(worker.options.timeLimit) { try await handler(message.payload, context) }
            return inFlight.isLost(message.lease) ? .leaseLost : .succeeded(completion)
        } catch {
            if inFlight.isLost(message.lease) { return .leaseLost }
            if error is CancellationError && isDraining { return .interrupted }
            if let snooze = error as? Snooze { return .snoozed(snooze) }
            if let error = error as? NonRetryableError { return .failed("\(error)", retryable: false) }
            return .failed(String(describing: error), retryable: true)
        }
    }

    /// Writes the outcome of a delivery. While the database is unavailable (a restart, a
    /// failover) it keeps trying, with backoff, for up to one visibility timeout: the lease
    /// outlives a short outage, and a settle that gets through then spares the message a
    /// redelivery. Past that (or on any other error) the lease is left to expire and the
    /// message is delivered again.
    private func settle(_ message: ReceivedMessage, _ outcome: Outcome) async {
        let deadline = ContinuousClock.now + visibilityTimeout
        var failures = 0
        while true {
            do {
                return try await settleOnce(message, outcome)
            } catch let error as MusterError where error.isServerUnavailable && ContinuousClock.now < deadline {
                failures += 1
                let pause = RetryBackoff.reconnect.ceiling(afterAttempt: failures)
                logger.info("settling waits for the database", metadata: ["message_id": "\(message.id)", "error": "\(error)", "retry_in": "\(pause)"])
                // This runs in its own task, which nothing cancels.
                try? await Task.sleep(for: pause)
            } catch {
                logger.error("could not settle a lease; it will expire and be redelivered", metadata: ["message_id": "\(message.id)", "error": "\(error)"])
                return
            }
        }
    }

    private func settleOnce(_ message: ReceivedMessage, _ outcome: Outcome) async throws {
        switch outcome {
        case .succeeded(let completion):
            do {
                if try await complete(message, completion) { metrics.acked.increment() } else { leaseWasLost(message, while: "acking") }
            } catch let failure as ContinuationFailed {
                // Nothing was committed: the work the handler asked for failed, so the
                // delivery failed like a handler error (retried, or dead-lettered).
                try await settleOnce(message, .failed("\(failure.underlying)", retryable: !(failure.underlying is NonRetryableError)))
            } catch let error as MusterError where !error.isServerUnavailable {
                // The settling statement itself was refused: the handler did its part, so
                // this is not its failure (see SettlePolicy.afterRefusedSettle).
                logger.warning("settling a successful handler's result failed", metadata: ["message_id": "\(message.id)", "error": "\(error)"])
                let handedBack = Int(message.readCount) - message.attempt
                try await apply(policy.afterRefusedSettle(attempt: message.attempt, handedBack: handedBack), to: message,
                                error: "settling the result failed: \(error)")
            }
        case .leaseLost:
            leaseWasLost(message, while: "running")
        case .interrupted:
            // The drain may have handed it back already (a handler past the drain timeout):
            // a lease found gone here is that, not a lost one.
            if try await queue.snooze([message.lease]).allApplied { metrics.snoozed.increment() }
        case .snoozed(let snooze):
            try await apply(.snooze(for: snooze.delay), to: message, error: snooze.reason)
        case .failed(let error, let retryable):
            try await apply(policy.afterFailure(attempt: message.attempt, retryable: retryable), to: message, error: error)
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

    /// Settles a success; returns false when the lease was lost.
    private func complete(_ message: ReceivedMessage, _ completion: Completion) async throws -> Bool {
        switch completion {
        case .ack:
            return try await acks.submit(message.lease)
        case .member(let barrierID, let key, let result):
            let outcome = try await members.submit(.init(lease: message.lease, barrierID: barrierID, key: key, result: result))
            if outcome.fired {
                logger.info("last member completed; callback enqueued", metadata: [
                    "barrier_id": "\(barrierID)", "callback_message_id": "\(outcome.callbackMessageID ?? 0)",
                ])
            }
            return outcome.applied
        case .finalize(let barrierID, _, let continuation):
            let (client, queue, lease) = (worker.client, worker.queue, message.lease)
            guard let continuation else {
                return try await client.barriers.finalize(queue: queue, lease: lease, barrierID: barrierID).acked
            }
            // Finalize first: it locks the barrier row, so the continuation runs in exactly
            // one transaction, the one that finalized. Repeating the whole transaction after a
            // lost connection is safe: a committed one left finalized_at set.
            return try await client.withRetry(.idempotent) {
                try await client.withTransaction { transaction in
                    let outcome = try await client.barriers.finalize(queue: queue, lease: lease, barrierID: barrierID, in: transaction)
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

    private func leaseWasLost(_ message: ReceivedMessage, while step: String) {
        metrics.leaseLost.increment()
        logger.warning("lease_lost", metadata: ["message_id": "\(message.id)", "read_ct": "\(message.readCount)", "step": "\(step)"])
    }

    // MARK: - Heartbeats and shutdown

    private func heartbeatLoop() async {
        let interval = visibilityTimeout / 3
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            let leases = inFlight.leases
            let started = ContinuousClock.now
            do {
                if !leases.isEmpty {
                    let outcome = try await queue.extend(leases, by: visibilityTimeout)
                    let lost = inFlight.markLost(outcome.lost)
                    if !lost.isEmpty {
                        logger.warning("heartbeat found leases lost; cancelling their handlers", metadata: [
                            "count": "\(lost.count)", "message_ids": "\(lost.prefix(10).map(String.init).joined(separator: ","))",
                        ])
                    }
                }
                try await recordHeartbeat()
                metrics.heartbeatLatency.record(duration: ContinuousClock.now - started)
            } catch {
                logger.warning("heartbeat failed; retrying next interval", metadata: ["error": "\(error)"])
            }
        }
    }

    private func recordHeartbeat() async throws {
        let client = worker.client
        _ = try await client.run(
            WorkerSQL.shared(for: client).heartbeat,
            [worker.id, ProcessInfo.processInfo.hostName, Int(ProcessInfo.processInfo.processIdentifier),
             [worker.queue.rawValue], worker.options.concurrency, inFlight.count],
            retry: .idempotent
        )
    }

    /// Waits for running handlers up to the drain timeout, then cancels the rest and hands
    /// every remaining lease back at once.
    private func drain() async {
        beginDrain()
        let deadline = ContinuousClock.now + worker.options.drainTimeout
        while inFlight.count > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let leftovers = inFlight.cancelAll()
        guard !leftovers.isEmpty else { return }
        logger.warning("drain timeout: releasing unfinished leases", metadata: ["count": "\(leftovers.count)"])
        _ = try? await uncancellable { try await self.queue.snooze(leftovers) }
    }
}

/// A callback's continuation failed: the finalize transaction rolled back.
private struct ContinuationFailed: Error {
    var underlying: any Error
}
