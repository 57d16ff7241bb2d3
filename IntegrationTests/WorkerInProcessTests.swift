import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Worker behaviour observed from inside the process: retries, the dead-letter hook,
/// lease-lost cancellation.
@Suite struct WorkerInProcessTests {
    struct Input: Codable, Sendable { var n: Int }
    struct Boom: Error, CustomStringConvertible { var attempt: Int; var description: String { "boom on attempt \(attempt)" } }


    @Test func handlerThatAlwaysThrowsGetsExactlyMaxAttemptsThenADeadLetterAndOneHookCall() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 3, retryBackoffBase: .milliseconds(50), retryBackoffMax: .milliseconds(100))) { fixture in
            let attempts = Locked<[Int]>([])
            let hooks = Locked<[DeadLetterEvent]>([])
            var worker = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(
                pollInterval: .milliseconds(50), onDeadLetter: { event in hooks.withLock { $0.append(event) } }
            ))
            worker.register(task: "explode", as: Input.self) { _, context in
                attempts.withLock { $0.append(context.attempt) }
                throw Boom(attempt: context.attempt)
            }
            let execution = UUID()
            let sent = try await fixture.queue.send(OutgoingMessage(
                payload: try JSONPayload(encoding: Input(n: 1)), task: "explode", executionID: execution
            ))
            try await run(worker, until: "the dead-letter hook called") { hooks.value.count == 1 }
            #expect(attempts.value == [1, 2, 3])
            #expect(hooks.value.count == 1)
            #expect(hooks.value.first?.executionID == execution)
            #expect(hooks.value.first?.reason == "max_attempts")
            let dead = try #require(try await fixture.queue.deadLetters(id: sent.id).first)
            #expect(dead.lastError == "boom on attempt 3")
            #expect(dead.executionID == execution)
        }
    }

    @Test func undecodablePayloadAndUnknownTaskAreDeadLetteredWithClearReasons() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 2, retryBackoffBase: .milliseconds(10), retryBackoffMax: .milliseconds(20))) { fixture in
            var worker = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            worker.register(task: "typed", as: Input.self) { _, _ in }
            let bad = try await fixture.queue.send(OutgoingMessage(payload: try JSONPayload(json: #"{"n": "not a number"}"#), task: "typed"))
            let unknown = try await fixture.queue.send(OutgoingMessage(payload: .emptyObject, task: "nobody-handles-this"))
            try await run(worker, until: "both messages dead-lettered") { try await fixture.count("dead_letters") == 2 }
            let badLetter = try #require(try await fixture.queue.deadLetters(id: bad.id).first)
            #expect(badLetter.reason == "non_retryable" && badLetter.readCount == 1)
            let unknownLetter = try #require(try await fixture.queue.deadLetters(id: unknown.id).first)
            #expect(unknownLetter.reason == "max_attempts")
            #expect(unknownLetter.lastError?.contains("no handler registered for task nobody-handles-this") == true)
        }
    }

    @Test func lostLeaseCancelsTheHandlerAndItsResultIsNeverAcked() async throws {
        try await QueueFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(1))) { fixture in
            let cancelled = Locked(false)
            let started = Locked(false)
            var worker = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            worker.register(task: "long", as: Input.self) { _, _ in
                started.withLock { $0 = true }
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.withLock { $0 = true }
                    throw error
                }
            }
            let sent = try await fixture.queue.send(OutgoingMessage(payload: try JSONPayload(encoding: Input(n: 1)), task: "long"))
            let bumped = Locked(false)
            try await run(worker, until: "the handler cancelled") {
                if started.value && !bumped.value {
                    bumped.withLock { $0 = true }
                    // Another reader takes the message over: its read count moves on.
                    try await TestDatabase.query("UPDATE \(fixture.schema.quoted).messages SET read_ct = read_ct + 1 WHERE id = $1", [sent.id])
                }
                return cancelled.value
            }
            #expect(cancelled.value)
            let row = try await TestDatabase.query("SELECT read_ct, error_ct FROM \(fixture.schema.quoted).messages WHERE id = $1", [sent.id]).single()
            // Still there (never acked) and no error recorded by the lost lease. On a loaded
            // machine the worker may already have read it again after the lease expired.
            #expect(try row.decode(0, as: Int.self) >= 2)
            #expect(try row.decode(1, as: Int.self) == 0)
        }
    }

    @Test func twoWorkersOfOneClientAreTwoRowsEachWithItsOwnLeases() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.client.createQueue("other")
            let release = Locked(false)
            func worker(_ queue: QueueName) -> Worker {
                var worker = Worker(client: fixture.client, queue: queue, options: WorkerOptions(pollInterval: .milliseconds(50)))
                worker.register(task: "hold", as: JSONPayload.Ignored.self) { _, _ in
                    while !release.value { try await Task.sleep(for: .milliseconds(20)) }
                }
                return worker
            }
            let (jobs, other) = (worker(fixture.queue.name), worker("other"))
            try await fixture.queue.send(OutgoingMessage(payload: .emptyObject, task: "hold"))
            try await fixture.client.queue("other").send(OutgoingMessage(payload: .emptyObject, task: "hold"))
            let running = [Task { try await jobs.run() }, Task { try await other.run() }]
            defer { running.forEach { $0.cancel() } }
            try await waitUntil("both messages in flight") { try await fixture.count("in_flight") == 2 }
            try await waitUntil("both workers registered") { try await fixture.count("workers") == 2 }
            let workers = try await fixture.client.workers()
            #expect(Set(workers.map(\.id)) == [jobs.id, other.id])
            #expect(workers.allSatisfy { $0.alive && $0.leasesHeld == 1 && $0.queues.count == 1 })
            #expect(Set(workers.flatMap(\.queues)) == ["jobs", "other"])
            release.withLock { $0 = true }
            try await waitUntil("both messages acked") { try await fixture.count("messages") == 0 }
        }
    }

    /// A heartbeat interval not shorter than the lease could never keep a lease alive: the
    /// worker refuses to start, before it reads anything or registers itself.
    @Test func aHeartbeatIntervalNotShorterThanTheQueuesLeaseIsRefusedBeforeAnyRead() async throws {
        try await QueueFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(30))) { fixture in
            _ = try await fixture.queue.send(OutgoingMessage(payload: .emptyObject, task: "t"))
            var worker = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(heartbeatInterval: .seconds(30)))
            worker.register(task: "t", as: JSONPayload.Ignored.self) { _, _ in }
            let error = await #expect(throws: MusterError.self) { try await worker.run() }
            #expect(error?.code == .invalidArgument && error?.message.contains("shorter than the lease") == true, "\(String(describing: error))")
            #expect(try await fixture.count("messages", where: "state = 'ready' AND read_ct = 0") == 1)
            #expect(try await fixture.count("workers") == 0)
        }
    }
}
