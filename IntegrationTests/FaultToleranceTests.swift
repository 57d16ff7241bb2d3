import Foundation
import Logging
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 9: faults never fail healthy work. Attempts count a handler's
/// failures, not the infrastructure's: a delivery that finds its orchestration step held by
/// a killed worker, a result that could not be written, a worker started while the server is
/// down. And a lost-lease warning means a lease was lost.
@Suite struct FaultToleranceTests {
    /// The test worker's `gated` pipeline (`muster test-worker --gated-pipeline`), as the
    /// producer sees it: only its name, queue and stage shape matter for starting it.
    static func gated(queue: QueueName) -> Pipeline<Int, Int> {
        Pipeline("gated", queue: queue, input: Int.self)
            .stage("parts") { n, _ in Array(0..<n) } process: { i, _ in i } aggregate: { _, parts, _ in parts.reduce(0, +) }
    }

    /// Visibility timeout 2 s and 3 attempts: tight settings under which one crash used to
    /// dead-letter a start message while its claim outlived the lease.
    static let tight = QueueSettings(visibilityTimeout: .seconds(2), maxAttempts: 3,
                                     retryBackoffBase: .milliseconds(50), retryBackoffMax: .milliseconds(100))

    /// Starts an execution of `gated` over 10 parts; returns it and its start message's id.
    private func startGated(_ fixture: WorkerFixture) async throws -> (PipelineExecution<Int>, Int64) {
        let execution = try await fixture.client.start(Self.gated(queue: fixture.queue.name), input: 10)
        let start: Int64 = try await TestDatabase.query(
            "SELECT id FROM \(fixture.schema.quoted).messages WHERE task = 'gated/start'"
        ).single().decode(0)
        return (execution, start)
    }

    /// Makes the schema's ack() refuse every call with `message`; returns the SQL that puts
    /// the real one back.
    @discardableResult
    private func refuseAcks(in fixture: WorkerFixture, with message: String) async throws -> String {
        let s = fixture.schema.quoted
        let original: String = try await TestDatabase.query(
            "SELECT pg_get_functiondef($1::regprocedure)", ["\(s).ack(text, bigint[], integer[])"]
        ).single().decode(0)
        try await TestDatabase.query("""
            CREATE OR REPLACE FUNCTION \(s).ack(queue text, ids bigint[], read_cts integer[])
            RETURNS TABLE (id bigint, acked boolean) LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '\(message)'; END $$
            """)
        return original
    }

    @Test func orchestratorKilledBeforeItsFanOutCommitsCostsTheExecutionNothing() async throws {
        try await WorkerFixture.with(settings: Self.tight) { fixture in
            let (execution, start) = try await startGated(fixture)
            // A claim of an hour: only the test ends it (expireClaims), however slow the rounds.
            let first = try fixture.startWorker(["--gated-pipeline", "--claim-ttl", "1h"])
            try await waitUntil("the first worker to split") { try await fixture.eventCount("split-started") == 1 }
            first.kill(SIGKILL)
            _ = await first.wait()

            // The start message comes back while the dead worker's claim still stands:
            // more often than the queue's 3 attempts, and each time it waits, using none.
            let second = try fixture.startWorker(["--gated-pipeline"])
            defer { second.kill(SIGKILL) }
            func snoozes() async throws -> Int {
                try await TestDatabase.query(
                    "SELECT snoozes FROM \(fixture.schema.quoted).messages WHERE id = $1 AND state = 'delayed'", [start]
                ).rows.first?.decode(0) ?? 0
            }
            while try await snoozes() < 4 {
                let before = try await snoozes()
                try await fixture.time.expireLeases(on: fixture.queue.name)
                try await fixture.time.endDelays(on: fixture.queue.name)
                try await waitUntil("redelivery \(before + 1) snoozed") { try await snoozes() > before }
            }
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
            #expect(try await fixture.queueFixture.count("messages", where: "id = \(start) AND error_ct = 0") == 1)

            // Once the dead worker's claim expires, the second worker takes the step over.
            try await fixture.time.expireClaims()
            try await fixture.time.endDelays(on: fixture.queue.name)
            try await waitUntil("the second worker to split") { try await fixture.eventCount("split-started") == 2 }
            try await fixture.proceed(start)
            #expect(try await execution.result(timeout: .seconds(120)) == 45)
            // The crash used one attempt (the second split ran as attempt 2); the waits none.
            #expect(try await fixture.events(start).map(\.readCount) == [1, 2])
            #expect(try await fixture.queueFixture.count("barriers") == 1)
            #expect(try await fixture.queueFixture.count("barrier_members") == 10)
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
        }
    }

    @Test func orchestratorKilledAfterItsFanOutCommitsIsNotSplitAgain() async throws {
        try await WorkerFixture.with(settings: Self.tight) { fixture in
            let (execution, start) = try await startGated(fixture)
            let first = try fixture.startWorker(["--gated-pipeline"])
            try await waitUntil("the first worker to split") { try await fixture.eventCount("split-started") == 1 }

            // Hold the start message's row so its ack waits, then let the split finish: the
            // fan-out and the claim's tombstone commit, the ack does not.
            let blocker = try await TestDatabase.connect()
            _ = try await blocker.query("BEGIN")
            _ = try await blocker.query("SELECT 1 FROM \(fixture.schema.quoted).messages WHERE id = $1 FOR SHARE", [start])
            try await fixture.proceed(start)
            try await waitUntil("the fan-out and the tombstone to commit") {
                let finished = try await fixture.queueFixture.count("claims", where: "state = 'finished'")
                let barriers = try await fixture.queueFixture.count("barriers")
                return finished == 1 && barriers == 1
            }
            first.kill(SIGKILL)
            _ = await first.wait()
            // Its backends die with it (the blocked ack never commits), then the row is free.
            try await TestDatabase.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ($1, $1 || '-listener')", ["muster-test-worker-\(first.pid)"]
            )
            _ = try await blocker.query("ROLLBACK")
            await blocker.close()
            #expect(try await fixture.queueFixture.count("messages", where: "id = \(start)") == 1)

            try await fixture.time.expireLeases(on: fixture.queue.name)
            let second = try fixture.startWorker(["--gated-pipeline"])
            defer { second.kill(SIGKILL) }
            #expect(try await execution.result(timeout: .seconds(120)) == 45)
            #expect(try await fixture.eventCount("split-started") == 1, "the step finished: no second split")
            #expect(try await fixture.queueFixture.count("barriers") == 1)
            #expect(try await fixture.queueFixture.count("barrier_members") == 10)
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
        }
    }

    @Test func successfulHandlerWhoseAckFailsRunsAgainWithoutUsingAnAttempt() async throws {
        // A hand-back waits a backoff step (at least a second); after maxAttempts of them a
        // refusal counts as a failure. Steps of 10 minutes (and a lease as long) keep the
        // worker from running out of hand-backs, or a lease from expiring, while this test
        // is slow to restore the ack: it moves the delay itself (endDelays).
        let settings = QueueSettings(visibilityTimeout: .seconds(600), maxAttempts: 3,
                                     retryBackoffBase: .seconds(600), retryBackoffMax: .seconds(600))
        try await WorkerFixture.with(settings: settings) { fixture in
            let original = try await refuseAcks(in: fixture, with: "ack refused by the test")
            let id = try await fixture.send("succeed")
            let worker = try fixture.startWorker()
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the message handed back") {
                try await fixture.queueFixture.count("messages", where: "id = \(id) AND snoozes >= 1") == 1
            }
            // Not the handler's failure: no error recorded, no attempt used.
            #expect(try await fixture.queueFixture.count("messages", where: "id = \(id) AND error_ct = 0 AND last_error IS NULL") == 1)
            #expect(worker.output().contains("settling a successful handler's result failed"))
            #expect(worker.output().contains("ack refused by the test"))

            try await TestDatabase.query(original)
            try await fixture.time.endDelays(on: fixture.queue.name)
            try await waitUntil("the message acked") { try await !fixture.messageExists(id) }
            // It ran (and was refused) once, then once more with the ack restored, both times
            // as attempt 1.
            let events = try await fixture.events(id)
            #expect(events.count == 4)
            #expect(events.map(\.event) == Array(repeating: ["started", "finished"], count: events.count / 2).flatMap { $0 })
            #expect(events.allSatisfy { $0.readCount == 1 }, "every run was attempt 1")
            #expect(try await fixture.queueFixture.count("dead_letters") == 0)
        }
    }

    @Test func successfulHandlerWhoseAckIsAlwaysRefusedEndsInDeadLettersInsteadOfLooping() async throws {
        try await WorkerFixture.with(settings: QueueSettings(maxAttempts: 2, retryBackoffBase: .milliseconds(10), retryBackoffMax: .milliseconds(20))) { fixture in
            try await refuseAcks(in: fixture, with: "ack refused for good")
            let id = try await fixture.send("succeed")
            let worker = try fixture.startWorker()
            defer { worker.kill(SIGKILL) }
            // Two hand-backs (max attempts), then the refusal counts: two failed attempts.
            try await waitUntil("the message dead-lettered") {
                try await fixture.time.endDelays(on: fixture.queue.name)
                return try await fixture.queueFixture.count("dead_letters", where: "id = \(id)") == 1
            }
            let dead = try #require(try await fixture.queue.deadLetters(id: id).first)
            #expect(dead.reason == "max_attempts")
            #expect(dead.snoozes == 2 && dead.readCount == 4 && dead.errorCount == 2)
            #expect(dead.lastError?.contains("settling the result failed") == true && dead.lastError?.contains("ack refused for good") == true)
            #expect(try await fixture.eventCount("finished") == 4)
        }
    }

    @Test func noLeaseIsReportedLostWhenNothingFails() async throws {
        let queue = try QueueName("lease-\(UUID().uuidString.prefix(8).lowercased())")
        _ = RecordedMetrics.shared     // recording from here on
        try await QueueFixture.with(options: .init(maxConnections: 12)) { fixture in
            // Leases of a minute, extended every 100 ms: no stall of this busy machine lets one
            // expire (that would be a lease really lost), and many heartbeats meet acks.
            try await fixture.client.createQueue(queue, settings: QueueSettings(visibilityTimeout: .seconds(60)))
            // Every ack holds its rows 20 ms before it commits, so heartbeats meet leases
            // whose acks are committing, whose rows then vanish.
            let s = fixture.schema.quoted
            try await TestDatabase.query("""
                CREATE FUNCTION \(s).hold_acked_rows() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT FROM acked) THEN PERFORM pg_sleep(0.02); END IF;
                    RETURN NULL;
                END $$
                """)
            try await TestDatabase.query("""
                CREATE TRIGGER hold_acked_rows AFTER DELETE ON \(s).messages REFERENCING OLD TABLE AS acked
                FOR EACH STATEMENT EXECUTE FUNCTION \(s).hold_acked_rows()
                """)
            let total = 5000
            for start in stride(from: 0, to: total, by: 1000) {
                try await fixture.client.queue(queue).send((start..<start + 1000).map { _ in OutgoingMessage(payload: .emptyObject, task: "noop") })
            }
            let log = LogRecorder()
            var worker = Worker(client: fixture.client, queue: queue,
                                options: WorkerOptions(concurrency: 8, prefetch: 8, heartbeatInterval: .milliseconds(100), pollInterval: .milliseconds(50)),
                                logger: log.logger)
            worker.register(task: "noop", as: JSONPayload.Ignored.self) { _, _ in }
            try await run(worker, until: "every message acked", timeout: .seconds(120)) {
                try await fixture.count("messages", where: "queue = '\(queue)'") == 0
            }
            let dimensions = [("queue", queue.rawValue)]
            #expect(RecordedMetrics.total("muster_messages_acked_total", dimensions) == Int64(total))
            #expect(RecordedMetrics.total("muster_leases_lost_total", dimensions) == 0)
            #expect(log.messages(at: .warning) == [], "\(log.described(at: .warning))")
        }
    }

    @Test func workerStartedWhileTheServerIsDownStartsConsumingOnceItIsUp() async throws {
        try await EmbeddedServer.with { server in
            let database = try DatabaseConfiguration(server.url)
            try await Migrator(database: database).migrate()
            let client = MusterClient(database: database)
            try await client.createQueue("jobs")
            try await client.queue("jobs").send((0..<20).map { _ in OutgoingMessage(payload: try! JSONPayload(json: #"{"action":"succeed"}"#), task: "test") })
            let connection = try await PostgresConnection.connect(to: ConnectionString(server.url))
            _ = try await connection.query("CREATE TABLE events (message_id bigint, read_ct int, pid int, event text, at timestamptz DEFAULT clock_timestamp())")
            await connection.close()
            await client.shutdown()

            try await server.stop()
            let worker = try ChildProcess(["test-worker", "--database-url", server.url, "--queue", "jobs", "--record-table", "events"])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the worker to wait for the server") { worker.output().contains("the database is unavailable; trying again") }
            #expect(kill(worker.pid, 0) == 0, "the worker waits instead of exiting: \(worker.output())")

            // Told to stop while it waits, a worker stops at once and cleanly.
            let impatient = try ChildProcess(["test-worker", "--database-url", server.url, "--queue", "jobs", "--record-table", "events"])
            try await waitUntil("the second worker to wait for the server") { impatient.output().contains("the database is unavailable") }
            impatient.kill(SIGTERM)
            #expect(await impatient.wait() == 0, "\(impatient.output())")

            try await server.start()
            let checker = MusterClient(database: database)
            try await waitUntil("the same worker to consume every message") {
                let metrics = try await checker.queue("jobs").metrics()
                return metrics.ready + metrics.delayed + metrics.leased == 0
            }
            await checker.shutdown()
            worker.kill(SIGTERM)
            #expect(await worker.wait() == 0, "\(worker.output())")
        }
    }
}
