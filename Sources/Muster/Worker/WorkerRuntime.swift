import CoreMetrics
import Foundation
import Metrics
import Logging
internal import MusterPostgres
import ServiceLifecycle

/// The running state of one `Worker`, as one tree of tasks that `run` owns:
///
/// ```
/// run
/// ├── heartbeat            extends held leases every heartbeat interval (a third of the lease)
/// └── work
///     ├── settler          writes outcomes; shielded from cancellation, closed last
///     └── deliveries
///         ├── fetch        reads batches while there is room, until the worker drains
///         └── deliver × n  one per message read: waits for a slot, runs the handler
/// ```
///
/// A graceful shutdown stops the fetch loop; running handlers may finish within the drain
/// timeout, then the rest are cancelled; messages read but never started are handed back.
/// Leaving the deliveries' scope *is* the drain: nothing is polled. The settler then writes
/// what is left, the heartbeat stops, and the worker row is marked stopped.
final class WorkerRuntime: Sendable {
    private let worker: Worker
    private let queue: Queue
    private let visibilityTimeout: Duration
    private let heartbeatInterval: Duration
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let budget: ReadBudget
    private let deliveries: Deliveries
    private let settler: Settler

    init(worker: Worker) async throws {
        self.worker = worker
        queue = worker.client.queue(worker.queue)
        let settings = try await worker.client.settings(of: worker.queue)
        visibilityTimeout = worker.options.visibilityTimeout ?? settings.visibilityTimeout
        heartbeatInterval = try worker.options.heartbeatInterval(forLease: visibilityTimeout)
        let policy = SettlePolicy(
            maxAttempts: worker.options.maxAttempts ?? settings.maxAttempts,
            backoff: worker.options.backoff ?? RetryBackoff(base: settings.retryBackoffBase, max: settings.retryBackoffMax)
        )
        logger = worker.logger
        metrics = WorkerMetrics(queue: worker.queue)
        let options = worker.options
        budget = ReadBudget(concurrency: options.concurrency, prefetch: options.prefetch, batchSize: options.batchSize)
        deliveries = Deliveries(slots: options.concurrency)
        settler = Settler(worker: worker, queue: queue, deliveries: deliveries, policy: policy, metrics: metrics)
    }

    /// Registers the worker (its first heartbeat row).
    func announce() async throws {
        try await recordHeartbeat()
    }

    func run(until stop: Worker.StopCondition) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.heartbeatLoop() }
            await withDiscardingTaskGroup { work in
                work.addTask { await uncancellable { await self.settler.run() } }
                await withTaskCancellationHandler {
                    await withGracefulShutdownHandler {
                        await self.deliver(until: stop)
                    } onGracefulShutdown: {
                        self.beginDrain()
                    }
                } onCancel: {
                    // Cancelled outright (a second signal, or the group's deadline): stop
                    // now, but still hand every lease back.
                    self.beginDrain()
                    self.deliveries.stopNow()
                }
                settler.close()
            }
            group.cancelAll()
        }
        _ = try? await uncancellable { [worker] in try await worker.client.run(WorkerSQL.shared(for: worker.client).stopped, [worker.id], retry: .idempotent) }
        logger.info("worker stopped")
    }

    private func beginDrain() {
        guard !deliveries.isDraining else { return }
        logger.info("draining: no new reads; running handlers may finish")
        deliveries.drain()
    }

    // MARK: - Deliveries

    /// Reads and runs messages until the worker drains, then lets running handlers finish
    /// within the drain timeout and cancels the rest; returns once every delivery is over.
    private func deliver(until stop: Worker.StopCondition) async {
        let (read, reads) = AsyncStream<ReceivedMessage>.makeStream()
        await withDiscardingTaskGroup { group in
            group.addTask {
                // The fetch loop is cancelled once the worker drains: that ends its waits.
                // Its reads are shielded, so a lease read meanwhile is still handed back.
                await withTaskGroup(of: Void.self) { fetch in
                    fetch.addTask {
                        await self.fetchLoop(until: stop, secondary: false, into: reads)
                        self.beginDrain()
                    }
                    // With room for two batches, a second reader reads beside the first while
                    // reads come back full: handlers then never wait for a read's round trip.
                    if self.budget.room >= 2 * self.budget.batchSize {
                        fetch.addTask { await self.fetchLoop(until: stop, secondary: true, into: reads) }
                    }
                    await self.deliveries.draining()
                    fetch.cancelAll()
                }
                reads.finish()
            }
            for await message in read {
                group.addTask { await self.deliver(message) }
            }
            // Cancelled outright, the deliveries were told to stop already.
            let deliveries = self.deliveries
            let idle = await withTimeout(worker.options.drainTimeout, otherwise: false) {
                await deliveries.handlersIdle()
                return !Task.isCancelled
            }
            if !Task.isCancelled && !idle {
                logger.warning("drain timeout: cancelling running handlers and handing their leases back")
                deliveries.stopNow()
            }
        }
        // Messages read but never given a delivery (a cancellation ended the loop above
        // first) are handed back too.
        for message in deliveries.takeUnclaimed() {
            settler.submit(FinishedDelivery(message: message, outcome: .interrupted, deadline: .now + visibilityTimeout))
        }
    }

    /// Reads while the budget allows, hands each message to `reads`, and waits for a send (or
    /// the poll interval) after an empty read. A `secondary` reader only reads while reads
    /// come back full, and leaves waiting for sends to the primary one.
    private func fetchLoop(until stop: Worker.StopCondition, secondary: Bool, into reads: AsyncStream<ReceivedMessage>.Continuation) async {
        let hub = worker.client.notifications
        let channel = queue.notificationChannel
        let listening = secondary ? false : (try? await hub.listen(channel)) ?? false
        var failures = 0
        var cursor = ReadCursor()
        while !Task.isCancelled {
            guard let limit = await deliveries.startRead(in: budget, secondary: secondary) else { return }
            let token = hub.token(for: channel.name)
            let messages: [ReceivedMessage]
            do {
                let startedAt = ContinuousClock.now
                let start = cursor.start(at: startedAt)
                let read = try await uncancellable { [queue, visibilityTimeout, worker] in
                    try await queue.read(limit: limit, visibilityTimeout: visibilityTimeout, reader: worker.id, from: start)
                }
                cursor.record(startedFrom: start, at: startedAt, took: .now - startedAt, next: read.next)
                messages = read.messages
                failures = 0
            } catch {
                deliveries.readReturned([], limit: limit)
                failures += 1
                let pause = RetryBackoff.reconnect.ceiling(afterAttempt: failures)
                logger.warning("read failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(pause)"])
                try? await Task.sleep(for: pause)
                continue
            }
            deliveries.readReturned(messages, limit: limit)
            metrics.read.increment(by: messages.count)
            for message in messages { reads.yield(message) }
            if !messages.isEmpty || secondary { continue }
            if stop == .queueEmpty {
                do {
                    if try await isDone() { return }
                } catch {
                    logger.warning("checking whether the queue is empty failed; reading on", metadata: ["error": "\(error)"])
                }
                if !deliveries.holdsNothing {
                    // Once what this worker holds is settled the queue may be empty: look
                    // again then, or as soon as a send wakes the loop.
                    let deliveries = self.deliveries
                    await withTimeout(worker.options.pollInterval, otherwise: ()) {
                        await withTaskGroup(of: Void.self) { either in
                            either.addTask { await deliveries.nothingHeld() }
                            either.addTask { _ = await hub.wait(for: channel.name, since: token, timeout: .seconds(3600)) }
                            await either.next()
                            either.cancelAll()
                        }
                    }
                    continue
                }
            }
            if listening {
                _ = await hub.wait(for: channel.name, since: token, timeout: worker.options.pollInterval)
            } else {
                try? await Task.sleep(for: worker.options.pollInterval)
            }
        }
    }

    /// For `.queueEmpty`: nothing held by this worker and nothing left in the queue.
    private func isDone() async throws -> Bool {
        guard deliveries.holdsNothing else { return false }
        let client = worker.client
        return try await client.run(WorkerSQL.shared(for: client).queueEmpty, [worker.queue.rawValue], retry: .idempotent).single().decode(0)
    }

    /// One delivery: waits for a handler slot, runs the handler, hands the outcome to the
    /// settler. A delivery that never started (the worker drains) hands its lease back.
    private func deliver(_ message: ReceivedMessage) async {
        let lease = message.lease
        let outcome: DeliveryOutcome
        switch await deliveries.acquireSlot(for: lease) {
        case .run:
            outcome = await runHandler(message)
        case .handBack, .wait:
            outcome = .interrupted
        case .lost:
            outcome = .leaseLost
        }
        settler.submit(FinishedDelivery(message: message, outcome: outcome, deadline: .now + visibilityTimeout))
        if deliveries.handlerReturned(lease) { settler.hurry() }
    }

    private func runHandler(_ message: ReceivedMessage) async -> DeliveryOutcome {
        var logger = self.logger
        // Set at once: a handler may render its metadata on every change (StreamLogHandler does).
        var metadata = logger.handler.metadata
        metadata["message_id"] = "\(message.id)"
        metadata["task"] = "\(message.task ?? "-")"
        if let execution = message.executionID { metadata["execution_id"] = "\(execution)" }
        logger.handler.metadata = metadata
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
        let (lease, deliveries) = (message.lease, self.deliveries)
        let started = ContinuousClock.now
        defer { metrics.handlerDuration.record(duration: ContinuousClock.now - started) }
        return await HandlerSpan.run(message, task: task, queue: worker.queue, barriers: worker.client.barriers, logger: logger) {
            do {
                let completion = try await withTimeLimit(worker.options.timeLimit, started: { deliveries.running(lease, cancel: $0) }) {
                    try await handler(message.payload, context)
                }
                return deliveries.isLost(lease) ? .leaseLost : .succeeded(completion)
            } catch {
                if deliveries.isLost(lease) { return .leaseLost }
                if error is CancellationError && deliveries.isDraining { return .interrupted }
                if let snooze = error as? Snooze { return .snoozed(snooze) }
                if let error = error as? NonRetryableError { return .failed("\(error)", retryable: false) }
                return .failed(String(describing: error), retryable: true)
            }
        }
    }

    // MARK: - Heartbeats

    private func heartbeatLoop() async {
        while (try? await Task.sleep(for: heartbeatInterval)) != nil {
            let leases = deliveries.heartbeatLeases
            let started = ContinuousClock.now
            do {
                if !leases.isEmpty {
                    let outcome = try await queue.extend(leases, by: visibilityTimeout)
                    let lost = deliveries.markLost(outcome.lost)
                    if !lost.isEmpty {
                        logger.warning("heartbeat found leases lost; cancelling their handlers", metadata: [
                            "count": "\(lost.count)", "message_ids": "\(lost.prefix(10).map(String.init).joined(separator: ","))",
                        ])
                    }
                }
                try await recordHeartbeat()
                metrics.heartbeatLatency.record(duration: ContinuousClock.now - started)
            } catch {
                if Task.isCancelled { return }
                logger.warning("heartbeat failed; retrying next interval", metadata: ["error": "\(error)"])
            }
        }
    }

    private func recordHeartbeat() async throws {
        let client = worker.client
        _ = try await client.run(
            WorkerSQL.shared(for: client).heartbeat,
            [worker.id, ProcessInfo.processInfo.hostName, Int(ProcessInfo.processInfo.processIdentifier),
             [worker.queue.rawValue], worker.options.concurrency, deliveries.held],
            retry: .idempotent
        )
    }
}
