import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Workers as real processes, killed and signalled (DESIGN.md guarantees 1–4).
@Suite struct WorkerProcessTests {
    @Test func sigkilledWorkersMessageIsBackWithinOneVisibilityTimeoutAndAnotherWorkerHandlesIt() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(30))) { fixture in
            let id = try await fixture.send("gate", untilAttempt: 1)
            let first = try fixture.startWorker(["--concurrency", "1"])
            try await waitUntil("the first worker to start the handler") { try await fixture.events(id).contains { $0.event == "started" } }
            first.kill(SIGKILL)
            #expect(await first.wait() == 128 + SIGKILL)
            // The dead worker's lease runs out within one visibility timeout (its last
            // heartbeat set it at most 30 s ahead)...
            let lease = try #require(try await fixture.state(id))
            #expect(lease.state == "leased" && lease.visibleInSeconds <= 30)
            // ...and once it has, another worker reads the message and finishes it.
            try await fixture.time.expireLeases(on: fixture.queue.name)
            let second = try fixture.startWorker(["--concurrency", "1"])
            defer { second.kill(SIGKILL) }
            try await waitUntil("the second worker to finish the message") { try await !fixture.messageExists(id) }
            let events = try await fixture.events(id)
            #expect(events.map(\.event) == ["started", "started", "finished"])
            #expect(events.last?.readCount == 2 && events.last?.pid == second.pid)
        }
    }

    @Test func sigtermLetsTheRunningHandlerFinishAndReleasesTheUnstartedLeaseAtOnce() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(600))) { fixture in
            let running = try await fixture.send("gate")
            let waiting = try await fixture.send("succeed")
            let worker = try fixture.startWorker(["--concurrency", "1", "--prefetch", "1"])
            try await waitUntil("the handler to start") { try await fixture.events(running).contains { $0.event == "started" } }
            try await waitUntil("the second message prefetched") { try await fixture.state(waiting)?.state == "leased" }
            worker.kill(SIGTERM)
            // The unstarted message is handed back ('ready'; an expired lease would still say
            // 'leased') while the running handler is still waiting to finish.
            try await waitUntil("the prefetched lease handed back") { try await fixture.state(waiting)?.state == "ready" }
            #expect(try await fixture.events(running).map(\.event) == ["started"])
            try await fixture.proceed(running)
            #expect(await worker.wait() == 0, "\(worker.output())")
            #expect(try await fixture.events(running).map(\.event) == ["started", "finished"])
            #expect(try await !fixture.messageExists(running))
            #expect(try await fixture.events(waiting).isEmpty)
        }
    }

    @Test func handlerRunningPastTwoVisibilityTimeoutsIsNeverDeliveredTwice() async throws {
        // A real duration must pass here: heartbeats are what is tested. Leases of 10 s
        // extended every 200 ms give the worker 9.8 s of slack on a busy machine.
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(10))) { fixture in
            let id = try await fixture.send("gate")
            let workers = try (0..<2).map { _ in try fixture.startWorker(["--concurrency", "2", "--heartbeat-interval", "200ms"]) }
            defer { workers.forEach { $0.kill(SIGKILL) } }
            try await waitUntil("the handler to start") { try await !fixture.events(id).isEmpty }
            // The handler runs until its lease has been extended more than two visibility
            // timeouts past the read, while another idle worker polls the queue.
            try await waitUntil("heartbeats to extend the lease 30 s past the read") {
                try await fixture.queueFixture.count("messages", where: "id = \(id) AND visible_at > last_read_at + interval '30 seconds'") == 1
            }
            try await fixture.proceed(id)
            try await waitUntil("the message acked") { try await !fixture.messageExists(id) }
            #expect(try await fixture.events(id).map(\.event) == ["started", "finished"])
        }
    }

    @Test func handlerOverItsTimeLimitIsCancelledAndRetried() async throws {
        try await WorkerFixture.with(settings: QueueSettings(retryBackoffBase: .milliseconds(100), retryBackoffMax: .milliseconds(200))) { fixture in
            let id = try await fixture.send("sleep", seconds: 30, untilAttempt: 1)
            let worker = try fixture.startWorker(["--time-limit", "500ms"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the retried message acked") { try await !fixture.messageExists(id) }
            let events = try await fixture.events(id)
            #expect(events.map(\.event) == ["started", "started", "finished"])
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
        }
    }

    @Test func messageThatCrashesTheProcessEveryTimeEndsInDeadLetters() async throws {
        try await WorkerFixture.with(settings: QueueSettings(maxAttempts: 2)) { fixture in
            let id = try await fixture.send("crash")
            for _ in 1...2 {
                let worker = try fixture.startWorker(["--concurrency", "1"])
                #expect(await worker.wait() == 128 + SIGKILL, "the handler kills its own process")
                try await fixture.time.expireLeases(on: fixture.queue.name)
            }
            // The next worker finds it past max attempts and dead-letters it without running it.
            let worker = try fixture.startWorker(["--concurrency", "1"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the message dead-lettered") { try await fixture.queueFixture.count("dead_letters", where: "id = \(id)") == 1 }
            let dead = try #require(try await fixture.queue.deadLetters(id: id).first)
            #expect(dead.reason == "max_attempts")
            #expect(dead.lastError == nil)
            #expect(try await fixture.eventCount("started") == 2)
        }
    }

    @Test func terminatingEveryConnectionDuringARunLosesAndDuplicatesNothing() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(3), archiveOnAck: true)) { fixture in
            let total = 2000
            // 20 ms each at concurrency 8: the run lasts about 5 s, long enough to be hit.
            let payload = try JSONPayload(json: #"{"action":"sleep","seconds":0.02}"#)
            try await fixture.queue.send((0..<total).map { _ in OutgoingMessage(payload: payload, task: "test") })
            let worker = try fixture.startWorker(["--concurrency", "8"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the worker running handlers") { try await fixture.eventCount("started") > 0 }
            var terminated = 0
            for _ in 0..<8 {
                try await Task.sleep(for: .milliseconds(400))
                terminated += try await TestDatabase.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ($1, $1 || '-listener')",
                    ["muster-test-worker-\(worker.pid)"]
                ).rows.count
            }
            #expect(terminated >= 8, "the terminations must hit the worker's pool and listener connections")
            try await waitUntil("every message archived", timeout: .seconds(120)) { try await fixture.queueFixture.count("messages") == 0 }
            #expect(try await fixture.queueFixture.count("archive") == total)
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
            // The worker survived every termination.
            #expect(kill(worker.pid, 0) == 0)
        }
    }

    @Test func secondSignalStopsAtOnceAndStillReleasesTheLease() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(60))) { fixture in
            let id = try await fixture.send("sleep", seconds: 60)
            // Info logs: the test sends the second signal once the worker said it took the first
            // (two signals sent before a starved process runs would arrive as one).
            let worker = try fixture.startWorker(["--concurrency", "1", "--drain-timeout", "60s"], environment: ["MUSTER_LOG_LEVEL": "info"])
            try await waitUntil("the handler to start") { try await fixture.events(id).contains { $0.event == "started" } }
            worker.kill(SIGTERM)
            try await waitUntil("the worker to take the first signal") { worker.output().contains("shutting down gracefully") }
            #expect(try await fixture.state(id)?.state == "leased", "the first signal lets the handler run on")
            worker.kill(SIGTERM)
            let status = await worker.wait()
            #expect(status == 0 || status == 1, "\(worker.output())")
            let state = try #require(try await fixture.state(id))
            #expect(state.state == "ready", "the lease is handed back, not left to expire in 60 s")
            #expect(try await fixture.events(id).map(\.event) == ["started"])
        }
    }
}
