import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Workers as real processes, killed and signalled (DESIGN.md guarantees 1–4).
@Suite struct WorkerProcessTests {
    @Test func sigkilledWorkersMessageIsHandledByAnotherWithinOneVisibilityTimeout() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(2))) { fixture in
            let id = try await fixture.send("sleep", seconds: 60, untilAttempt: 1)
            let first = try fixture.startWorker(["--concurrency", "1"])
            try await waitUntil { try await fixture.events(id).contains { $0.event == "started" } }
            first.kill(SIGKILL)
            #expect(await first.wait() == 128 + SIGKILL)
            let killedAt = ContinuousClock.now
            let second = try fixture.startWorker(["--concurrency", "1"])
            defer { second.kill(SIGKILL) }
            try await waitUntil(timeout: .seconds(20)) { try await !fixture.messageExists(id) }
            // Back within one visibility timeout (2 s) plus the second worker's start-up.
            #expect(ContinuousClock.now - killedAt < .seconds(12))
            let events = try await fixture.events(id)
            #expect(events.map(\.event) == ["started", "started", "finished"])
            #expect(events.last?.readCount == 2 && events.last?.pid == second.pid)
        }
    }

    @Test func sigtermLetsTheRunningHandlerFinishAndReleasesTheUnstartedLeaseAtOnce() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(60))) { fixture in
            let running = try await fixture.send("sleep", seconds: 4)
            let waiting = try await fixture.send("succeed")
            let worker = try fixture.startWorker(["--concurrency", "1", "--prefetch", "1"])
            try await waitUntil { try await fixture.events(running).contains { $0.event == "started" } }
            try await waitUntil { try await fixture.state(waiting)?.state == "leased" }
            worker.kill(SIGTERM)
            // The unstarted message is handed back well before its 60 s lease would expire.
            try await waitUntil(timeout: .seconds(3)) { try await fixture.state(waiting)?.state == "ready" }
            #expect(await worker.wait() == 0, "\(worker.output())")
            #expect(try await fixture.events(running).map(\.event) == ["started", "finished"])
            #expect(try await !fixture.messageExists(running))
            #expect(try await fixture.events(waiting).isEmpty)
        }
    }

    @Test func handlerRunningTenVisibilityTimeoutsIsNeverDeliveredTwice() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(1))) { fixture in
            let id = try await fixture.send("sleep", seconds: 10)
            let workers = try [fixture.startWorker(["--concurrency", "2"]), fixture.startWorker(["--concurrency", "2"])]
            defer { workers.forEach { $0.kill(SIGKILL) } }
            try await waitUntil(timeout: .seconds(30)) { try await !fixture.messageExists(id) }
            #expect(try await fixture.events(id).map(\.event) == ["started", "finished"])
        }
    }

    @Test func handlerOverItsTimeLimitIsCancelledAndRetried() async throws {
        try await WorkerFixture.with(settings: QueueSettings(retryBackoffBase: .milliseconds(100), retryBackoffMax: .milliseconds(200))) { fixture in
            let id = try await fixture.send("sleep", seconds: 30, untilAttempt: 1)
            let worker = try fixture.startWorker(["--time-limit", "500ms"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil(timeout: .seconds(15)) { try await !fixture.messageExists(id) }
            let events = try await fixture.events(id)
            #expect(events.map(\.event) == ["started", "started", "finished"])
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
        }
    }

    @Test func messageThatCrashesTheProcessEveryTimeEndsInDeadLetters() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(1), maxAttempts: 2)) { fixture in
            let id = try await fixture.send("crash")
            var restarts = 0
            while try await fixture.queueFixture.count("dead_letters", where: "id = \(id)") == 0 {
                restarts += 1
                #expect(restarts <= 6, "never dead-lettered")
                if restarts > 6 { return }
                let worker = try fixture.startWorker(["--concurrency", "1"])
                // It crashes on the message, or finds it dead and idles: stop it after a while.
                let deadline = Task { try await Task.sleep(for: .seconds(4)); worker.kill(SIGKILL) }
                _ = await worker.wait()
                deadline.cancel()
            }
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
            var terminated = 0
            for _ in 0..<8 {
                try await Task.sleep(for: .milliseconds(400))
                terminated += try await TestDatabase.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1",
                    ["muster-test-worker-\(worker.pid)%"]
                ).rows.count
            }
            #expect(terminated >= 8, "the terminations must hit the worker's pool and listener connections")
            try await waitUntil(timeout: .seconds(60)) { try await fixture.queueFixture.count("messages") == 0 }
            #expect(try await fixture.queueFixture.count("archive") == total)
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
            // The worker survived every termination.
            #expect(kill(worker.pid, 0) == 0)
        }
    }

    @Test func secondSignalStopsAtOnceAndStillReleasesTheLease() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(60))) { fixture in
            let id = try await fixture.send("sleep", seconds: 60)
            let worker = try fixture.startWorker(["--concurrency", "1", "--drain-timeout", "60s"])
            try await waitUntil { try await fixture.events(id).contains { $0.event == "started" } }
            worker.kill(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
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
