import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Stopping a worker (issue 15): every lease it holds is acked or handed back, whatever it
/// was doing when told to stop, and a stopped worker neither spins nor waits for a lease to
/// expire.
@Suite struct WorkerDrainTests {
    @Test func drainWithAThousandMessagesInFlightAcrossAHundredReadsSettlesEveryOne() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(600))) { fixture in
            let gate = try JSONPayload(json: #"{"action":"gate"}"#)
            try await fixture.queue.send((0..<1000).map { _ in OutgoingMessage(payload: gate, task: "test") })
            // Ten handlers, 990 prefetched: the worker's batches of 10 take a hundred reads.
            let worker = try fixture.startWorker(["--concurrency", "10", "--prefetch", "990"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("all 1000 leased") { try await fixture.queueFixture.count("messages", where: "state = 'leased'") == 1000 }
            try await waitUntil("ten handlers at the gate") { try await fixture.eventCount("started") == 10 }
            worker.kill(SIGTERM)
            // The 990 that never started are handed back at once, while the ten still run.
            try await waitUntil("the unstarted leases handed back") { try await fixture.queueFixture.count("messages", where: "state = 'ready'") == 990 }
            #expect(try await fixture.eventCount("finished") == 0)
            try await TestDatabase.query("""
                INSERT INTO \(fixture.schema.quoted).events (message_id, event)
                SELECT message_id, 'proceed' FROM \(fixture.schema.quoted).events WHERE event = 'started'
                """)
            #expect(await worker.wait() == 0, "\(worker.output())")
            #expect(try await fixture.eventCount("finished") == 10)
            #expect(try await fixture.queueFixture.count("messages", where: "state = 'leased'") == 0)
            #expect(try await fixture.queueFixture.count("messages") == 990, "the ten that ran were acked, nothing else")
            #expect(try await fixture.queueFixture.count("messages", where: "read_ct = 1 AND state = 'ready'") == 990)
        }
    }

    @Test func cancellingAWorkerBlockedInItsReadLeavesNoLeaseAndDoesNotSpin() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(600))) { fixture in
            let id = try await fixture.send("succeed")
            let lock = try await lockMessages(fixture)
            let worker = try fixture.startWorker(["--concurrency", "1"])
            defer { worker.kill(SIGKILL) }
            try await stop(worker, whileBlockedIn: "read_from(", by: lock, fixture)
            // The read leased the message once the lock went, and the stopping worker handed
            // it back rather than leaving it to expire in 600 s.
            let state = try #require(try await fixture.state(id))
            #expect(state.state == "ready")
            #expect(try await fixture.eventCount("started") == 0)
        }
    }

    @Test func cancellingAWorkerBlockedInItsAckStillAcksAndDoesNotSpin() async throws {
        try await WorkerFixture.with(settings: QueueSettings(visibilityTimeout: .seconds(600))) { fixture in
            let id = try await fixture.send("gate")
            let worker = try fixture.startWorker(["--concurrency", "1"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the handler at the gate") { try await fixture.events(id).contains { $0.event == "started" } }
            let lock = try await lockMessages(fixture)
            try await fixture.proceed(id)
            try await stop(worker, whileBlockedIn: "ack(", by: lock, fixture)
            #expect(try await fixture.events(id).map(\.event) == ["started", "finished"])
            #expect(try await !fixture.messageExists(id), "the handler's success was acked once the lock went")
        }
    }

    @Test func runUntilTheQueueIsEmptyWaitsForRetriesAndReturnsWithNothingLeft() async throws {
        try await QueueFixture.with(settings: QueueSettings(retryBackoffBase: .milliseconds(50), retryBackoffMax: .milliseconds(100))) { fixture in
            struct Flaky: Error {}
            let handled = Locked(0)
            var worker = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(concurrency: 4))
            worker.register(task: "count", as: Int.self) { n, context in
                // Every tenth message fails its first attempt: the worker must wait for it.
                if n % 10 == 0 && context.attempt == 1 { throw Flaky() }
                handled.withLock { $0 += 1 }
            }
            try await fixture.queue.send((0..<100).map { OutgoingMessage(payload: try! JSONPayload(encoding: $0), task: "count") })
            try await worker.run(until: .queueEmpty)
            #expect(handled.value == 100)
            #expect(try await fixture.count("messages") == 0)
            #expect(try await fixture.count("dead_letters") == 0)
        }
    }

    // MARK: - Helpers

    /// A connection in a transaction that holds `messages` in SHARE mode: reads, acks and
    /// heartbeats wait for it until the caller commits (or the connection closes).
    private func lockMessages(_ fixture: WorkerFixture) async throws -> PostgresConnection {
        let connection = try await TestDatabase.connect()
        _ = try await connection.query("BEGIN")
        _ = try await connection.query("LOCK TABLE \(fixture.schema.quoted).messages IN SHARE MODE")
        return connection
    }

    /// Once the worker's statement containing `fragment` waits for `lock`, signals the worker
    /// twice (stop now), checks that it waits without spinning, then commits the lock and
    /// expects the worker to exit cleanly.
    private func stop(_ worker: ChildProcess, whileBlockedIn fragment: String, by lock: PostgresConnection, _ fixture: WorkerFixture) async throws {
        try await waitUntilBlocked(worker, in: fragment)
        worker.kill(SIGTERM)
        worker.kill(SIGTERM)
        try await expectIdle(worker)
        _ = try await lock.query("COMMIT")
        let status = await worker.wait()
        #expect(status == 0 || status == 1, "status \(status): \(worker.output())")
    }

    /// Waits until a statement of `worker` (its sessions are named after its pid) containing
    /// `fragment` waits for a lock. Other tests' workers may be blocked meanwhile.
    private func waitUntilBlocked(_ worker: ChildProcess, in fragment: String) async throws {
        try await waitUntil("the worker's statement with \(fragment) waiting for the lock") {
            try await TestDatabase.query(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND application_name = $2",
                [fragment, "muster-test-worker-\(worker.pid)"]
            ).single().decode(0) as Int > 0
        }
    }

    /// The stopped worker waits for the database without spinning: over two seconds it uses
    /// under a quarter of a second of CPU (a spinning loop would use most of it), and it has
    /// not exited, since the write it waits for must get through.
    private func expectIdle(_ worker: ChildProcess) async throws {
        let before = try cpuTicks(worker.pid)
        try await Task.sleep(for: .seconds(2))
        let used = try cpuTicks(worker.pid) - before
        #expect(used < 25, "the stopped worker used \(used) ticks of CPU in 2 s while it waited")
    }

    /// utime + stime of a process, in clock ticks (1/100 s), from /proc.
    private func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        return try #require(Int(fields[11])) + #require(Int(fields[12]))
    }
}
