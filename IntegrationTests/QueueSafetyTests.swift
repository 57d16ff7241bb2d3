import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Idempotent sends, transactional enqueue, poison containment, connection faults and bad
/// input (DESIGN.md guarantees 4, 5 and 8).
@Suite struct QueueSafetyTests {
    @Test func concurrentSendsWithOneDedupKeyEnqueueOnce() async throws {
        try await QueueFixture.with(options: .init(maxConnections: 8)) { fixture in
            var keyed = QueueFixture.payload(1)
            keyed.dedupKey = "order-42"
            let message = keyed
            let results = try await withThrowingTaskGroup(of: SendResult.self) { group in
                for _ in 0..<8 { group.addTask { try await fixture.queue.send(message) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(results.map(\.id)).count == 1)
            #expect(results.filter { !$0.duplicate }.count == 1)
            #expect(try await fixture.count("messages") == 1)
        }
    }

    @Test func dedupKeyOutlivesTheMessage() async throws {
        try await QueueFixture.with { fixture in
            var message = QueueFixture.payload(1)
            message.dedupKey = "once"
            let first = try await fixture.queue.send(message)
            let read = try #require(try await fixture.queue.read().first)
            #expect(try await fixture.queue.ack(read.lease))
            // A retry after an ambiguous commit, arriving after a fast worker acked: still once.
            let retry = try await fixture.queue.send(message)
            #expect(retry == SendResult(id: first.id, duplicate: true))
            #expect(try await fixture.count("messages") == 0)
        }
    }

    @Test func sendInARolledBackTransactionSendsNothing() async throws {
        try await QueueFixture.with { fixture in
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await fixture.client.withTransaction { tx in
                    try await fixture.queue.send(QueueFixture.payload(1), in: tx)
                    throw Abort()
                }
            }
            #expect(try await fixture.count("messages") == 0)
            _ = try await fixture.client.withTransaction { tx in
                try await fixture.queue.send(QueueFixture.payload(2), in: tx)
            }
            #expect(try await fixture.queue.read().map(\.n) == [2])
        }
    }

    @Test func sqlFunctionSendIsVisibleToTheSwiftReader() async throws {
        try await QueueFixture.with { fixture in
            let execution = UUID()
            try await TestDatabase.query(
                "SELECT \(fixture.schema.quoted).send('jobs', '{\"n\": 9}'::jsonb, NULL, task => 'resize', execution_id => $1::uuid)",
                [execution]
            )
            let message = try #require(try await fixture.queue.read().first)
            #expect(message.n == 9)
            #expect(message.task == "resize")
            #expect(message.executionID == execution)
        }
    }

    /// Headers are any jsonb to SQL: values that are not strings come back as their JSON
    /// text, headers that are not an object as none. A read never fails on them (it would fail
    /// the whole batch, and a worker would retry it forever). Found by the SQL fuzz run.
    @Test func oddHeadersWrittenBySQLNeverFailARead() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            try await TestDatabase.query(#"SELECT \#(s).send('jobs', '{"n": 1}', NULL, '{"a": [1, 2], "b": "x", "n": 3}'::jsonb)"#)
            try await TestDatabase.query(#"SELECT \#(s).send('jobs', '{"n": 2}', NULL, '[1]'::jsonb)"#)
            let messages = try await fixture.queue.read(limit: 2)
            #expect(messages.map(\.n) == [1, 2])
            #expect(messages.first?.headers == ["a": "[1,2]", "b": "x", "n": "3"])
            #expect(messages.last?.headers == [:])
        }
    }

    @Test func poisonMessageGoesToDeadLettersWithItsExecutionAndIsNeverHandedOutAgain() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 3)) { fixture in
            let execution = UUID()
            var message = QueueFixture.payload(1)
            message.executionID = execution
            message.task = "explode"
            try await fixture.queue.send(message)
            for attempt in 1...3 {
                let delivery = try #require(try await fixture.queue.read().first, "attempt \(attempt)")
                #expect(delivery.readCount == Int32(attempt))
                try await fixture.queue.release([delivery.lease], error: "exploded on attempt \(attempt)")
            }
            #expect(try await fixture.queue.read().isEmpty)
            let dead = try #require(try await fixture.queue.deadLetters().first)
            #expect(dead.reason == "max_attempts")
            #expect(dead.executionID == execution)
            #expect(dead.lastError == "exploded on attempt 3")
            #expect(dead.readCount == 3)
            #expect(try await fixture.count("messages") == 0)
            #expect(try await fixture.queue.read().isEmpty)
        }
    }

    @Test func crashLoopingMessageEndsInDeadLettersWithNoErrorRecorded() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 2)) { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            for _ in 1...2 {
                // The holder "dies": it never acks or releases; the lease just expires.
                _ = try #require(try await fixture.queue.read().first)
                try await fixture.time.expireLeases(on: fixture.queue.name)
            }
            #expect(try await fixture.queue.read().isEmpty)
            let dead = try #require(try await fixture.queue.deadLetters().first)
            #expect(dead.reason == "max_attempts")
            #expect(dead.lastError == nil)
            #expect(dead.errorCount == 0 && dead.readCount == 2)
        }
    }

    @Test func snoozedDeliveriesDoNotCountTowardMaxAttemptsButCrashesDo() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 2)) { fixture in
            let sent = try await fixture.queue.send(QueueFixture.payload(1))
            let first = try #require(try await fixture.queue.read().first)
            #expect(first.attempt == 1)
            #expect(try await fixture.queue.snooze([first.lease]).allApplied)
            #expect(try await !fixture.queue.snooze([first.lease]).allApplied, "fenced: that lease is gone")
            // Snoozed: delivered again as the same attempt, with the next read count.
            let again = try #require(try await fixture.queue.read().first)
            #expect(again.attempt == 1 && again.readCount == 2)
            // Two deliveries die (their leases just expire): attempts 1 and 2 are used up.
            try await fixture.time.expireLeases(on: fixture.queue.name)
            let last = try #require(try await fixture.queue.read().first)
            #expect(last.attempt == 2 && last.readCount == 3)
            try await fixture.time.expireLeases(on: fixture.queue.name)
            #expect(try await fixture.queue.read().isEmpty)
            let dead = try #require(try await fixture.queue.deadLetters(id: sent.id).first)
            #expect(dead.reason == "max_attempts" && dead.readCount == 3 && dead.snoozes == 1 && dead.errorCount == 0)
        }
    }

    @Test func deadLettersCanBeRequeuedAndPurged() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send([QueueFixture.payload(1), QueueFixture.payload(2)])
            let read = try await fixture.queue.read(limit: 2)
            #expect(try await fixture.queue.deadLetter(read.map(\.lease), reason: "explicit", error: "bad input").allApplied)
            #expect(try await fixture.queue.requeueDeadLetters(reason: "max_attempts").isEmpty)
            let requeued = try await fixture.queue.requeueDeadLetters(ids: [read[0].id], reason: "explicit")
            #expect(requeued == [read[0].id])
            let again = try #require(try await fixture.queue.read().first)
            // Every attempt ahead of it again, but the read count goes on: the lease from
            // before the dead letter is fenced out of the new delivery.
            #expect(again.n == read[0].n && again.attempt == 1 && again.readCount == 2)
            #expect(try await !fixture.queue.ack([read[0].lease]).allApplied)
            #expect(try await fixture.queue.ack(again.lease))
            #expect(try await fixture.queue.purgeDeadLetters() == 1)
            #expect(try await fixture.count("dead_letters") == 0)
        }
    }

    @Test func ackSurvivesTerminationOfItsConnection() async throws {
        try await QueueFixture.with(options: .init(maxConnections: 1)) { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read().first)
            #expect(try await fixture.terminateClientConnections() == 1)
            let outcome = try await fixture.queue.ack([message.lease])
            #expect(outcome.applied == [message.lease])
            #expect(try await fixture.count("messages") == 0)
        }
    }

    @Test func ackSurvivesTerminationOfEveryPooledConnection() async throws {
        // Like a server restart: every idle connection of the pool is dead, not just one.
        try await QueueFixture.with(options: .init(maxConnections: 4)) { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read().first)
            let queue = fixture.queue
            try await withThrowingTaskGroup(of: Void.self) { group in       // open all four
                for _ in 0..<4 { group.addTask { _ = try await queue.metrics() } }
                try await group.waitForAll()
            }
            #expect(try await fixture.terminateClientConnections() >= 2)
            let outcome = try await fixture.queue.ack([message.lease])
            #expect(outcome.applied == [message.lease])
        }
    }

    @Test func metricsCountEachState() async throws {
        try await QueueFixture.with { fixture in
            var delayed = QueueFixture.payload(0)
            delayed.delay = .seconds(60)
            try await fixture.queue.send([QueueFixture.payload(1), QueueFixture.payload(2), QueueFixture.payload(3), delayed])
            _ = try await fixture.queue.read()
            let metrics = try await fixture.queue.metrics()
            #expect(metrics.ready == 2 && metrics.leased == 1 && metrics.delayed == 1 && metrics.dead == 0)
            #expect((metrics.oldestReadyAgeSeconds ?? -1) >= 0)
        }
    }

    // MARK: - Bad input: a typed error, and nothing written

    @Test func oversizedPayloadIsRefusedNamingSizeAndLimit() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxPayloadBytes: 100)) { fixture in
            let before = try await fixture.snapshot()
            let big = OutgoingMessage(payload: try JSONPayload(json: "\"\(String(repeating: "x", count: 200))\""))
            let error = await #expect(throws: MusterError.self) { try await fixture.queue.send([QueueFixture.payload(1), big]) }
            #expect(error?.code == .payloadTooLarge)
            #expect(error?.message.contains("100") == true)
            #expect(error?.message.contains("202") == true)
            #expect(try await fixture.snapshot() == before)
        }
    }

    @Test func unknownQueueIsAnErrorNotASilentCreate() async throws {
        try await QueueFixture.with { fixture in
            let before = try await fixture.snapshot()
            let ghost = fixture.client.queue("ghost")
            let error = await #expect(throws: MusterError.self) { try await ghost.send(QueueFixture.payload(1)) }
            #expect(error?.code == .unknownQueue)
            await #expect(throws: MusterError.self) { try await ghost.read() }
            #expect(try await fixture.snapshot() == before)
        }
    }

    @Test func badArgumentsAreTypedErrorsAndWriteNothing() async throws {
        try await QueueFixture.with { fixture in
            let before = try await fixture.snapshot()
            func expectInvalid(_ body: () async throws -> Void) async {
                let error = await #expect(throws: MusterError.self) { try await body() }
                #expect(error?.code == .invalidArgument)
            }
            await expectInvalid { _ = try await fixture.queue.read(limit: 0) }
            await expectInvalid { _ = try await fixture.queue.read(limit: 1001) }
            await expectInvalid { _ = try await fixture.queue.read(visibilityTimeout: .seconds(-1)) }
            await expectInvalid { _ = try await fixture.queue.read(waitUpTo: .seconds(-5)) }
            await expectInvalid {
                var message = QueueFixture.payload(1)
                message.delay = .seconds(-10)
                try await fixture.queue.send(message)
            }
            await expectInvalid { try await fixture.queue.release([Lease(messageID: 1, readCount: 1)], delay: .seconds(-1)) }
            await expectInvalid { _ = try JSONPayload(json: "{not json") }
            for badName in ["bad name!", String(repeating: "q", count: 65), "", "q;drop"] {
                await expectInvalid { _ = try QueueName(badName) }
            }
            await expectInvalid { try await fixture.client.createQueue("q2", settings: QueueSettings(maxAttempts: 0)) }
            await expectInvalid { try await fixture.client.createQueue("q3", settings: QueueSettings(visibilityTimeout: .zero)) }
            #expect(try await fixture.snapshot() == before)
        }
    }

    @Test func missingSchemaSaysRunMigrate() async throws {
        let client = MusterClient(database: try TestDatabase.configuration(), schema: try SchemaName("not_installed_here"))
        let error = await #expect(throws: MusterError.self) { try await client.queue("jobs").send(QueueFixture.payload(1)) }
        #expect(error?.code == .schemaNotInstalled)
        #expect(error?.message.contains("muster migrate") == true)
        await client.shutdown()
    }
}

@Suite struct QueueBatchTests {
    @Test func aKeyRepeatedInsideOneBatchIsOneMessage() async throws {
        try await QueueFixture.with { fixture in
            var first = QueueFixture.payload(1)
            first.dedupKey = "same"
            var second = QueueFixture.payload(2)
            second.dedupKey = "same"
            let results = try await fixture.queue.send([first, QueueFixture.payload(3), second])
            #expect(results[0].id == results[2].id)
            #expect(results.map(\.duplicate) == [false, false, true])
            #expect(try await fixture.queue.read(limit: 10).map(\.n) == [1, 3])
        }
    }

    /// Settle statements lock their messages in id order whatever order the caller holds the
    /// leases in (a worker's heartbeat holds them in no particular order, its ack batches in
    /// the order handlers finished): two that share messages then never deadlock.
    @Test func settleStatementsTouchTheirMessagesInIdOrder() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            try await TestDatabase.query("CREATE TABLE \(s).touched (n serial, op text, id bigint)")
            try await TestDatabase.query("""
                CREATE FUNCTION \(s).note_touch() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO \(s).touched (op, id) VALUES (TG_OP, OLD.id);
                    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
                END $$
                """)
            try await TestDatabase.query("""
                CREATE TRIGGER note_touch BEFORE UPDATE OR DELETE ON \(s).messages
                FOR EACH ROW EXECUTE FUNCTION \(s).note_touch()
                """)
            _ = try await fixture.queue.send((0..<6).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
            let leases = try await fixture.queue.read(limit: 6).map(\.lease)
            // A queue of some size, as a worker's is: the statements find each lease by its id.
            for _ in 0..<10 {
                _ = try await fixture.queue.send((0..<1000).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
            }
            try await TestDatabase.query("ANALYZE \(s).messages")
            let shuffled = [leases[3], leases[0], leases[5], leases[1], leases[4], leases[2]]
            try await TestDatabase.query("TRUNCATE \(s).touched")
            #expect(try await fixture.queue.extend(shuffled).allApplied)
            #expect(try await fixture.queue.ack(shuffled.reversed()).allApplied)
            let touched = try await TestDatabase.query("SELECT op, id FROM \(s).touched ORDER BY n").rows
                .map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int64.self)) }
            let ids = leases.map(\.messageID).sorted()
            #expect(touched.filter { $0.0 == "UPDATE" }.map(\.1) == ids)
            #expect(touched.filter { $0.0 == "DELETE" }.map(\.1) == ids)
        }
    }
}
