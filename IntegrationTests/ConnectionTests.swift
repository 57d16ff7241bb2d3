import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The PostgreSQL layer against a real server.
@Suite struct ConnectionTests {
    @Test func connectFailureNamesHostAndPortButNotThePassword() async throws {
        let target = try ConnectionString("postgres://app:hunter2secret@127.0.0.1:1/db")
        let error = await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(to: target) }
        #expect(error?.kind == .connectFailed)
        let text = "\(error.map { String(reflecting: $0) } ?? "")"
        #expect(text.contains("127.0.0.1"))
        #expect(text.contains("1"))
        #expect(!text.contains("hunter2secret"))
    }

    @Test func cliConnectFailureIsOneLineWithoutPassword() async throws {
        let (status, output) = try await ChildProcess.run(["migrate", "--database-url", "postgres://app:hunter2secret@127.0.0.1:1/db"])
        #expect(status == 1)
        #expect(output.contains("127.0.0.1"))
        #expect(!output.contains("hunter2secret"))
        #expect(output.split(separator: "\n").count == 1)
    }

    @Test func everySupportedTypeDecodesAndNullIsOptional() async throws {
        let connection = try await TestDatabase.connect()
        let row = try await connection.query("""
            SELECT 7::int2, 70000::int4, 9000000000::int8, true, 'héllo'::text, 2.5::float8,
                   12345678901234567890.123::numeric, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid,
                   '2026-11-24 12:00:00.25+00'::timestamptz, '{"k": [1, 2]}'::jsonb, '\\x00ff'::bytea,
                   '{1,2,3}'::int8[], '{"a b",NULL,c}'::text[], NULL::int8, $1::text, $2::int8
            """, ["bound", nil]).single()
        #expect(try row.decode(0, as: Int16.self) == 7)
        #expect(try row.decode(1, as: Int32.self) == 70000)
        #expect(try row.decode(2, as: Int64.self) == 9_000_000_000)
        #expect(try row.decode(3, as: Bool.self))
        #expect(try row.decode(4, as: String.self) == "héllo")
        #expect(try row.decode(5, as: Double.self) == 2.5)
        #expect(try row.decode(6, as: String.self) == "12345678901234567890.123")
        #expect(try row.decode(7, as: UUID.self) == UUID(uuidString: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
        #expect(try row.decode(8, as: Date.self) == Date(timeIntervalSince1970: 1_795_521_600.25))
        #expect(try row.decode(9, as: PostgresJSON.self).text == #"{"k": [1, 2]}"#)
        #expect(try row.decode(10, as: PostgresBytes.self).bytes == [0, 255])
        #expect(try row.decode(11, as: [Int64].self) == [1, 2, 3])
        #expect(try row.decode(12, as: [String?].self) == ["a b", nil, "c"])
        #expect(try row.decodeIfPresent(13, as: Int64.self) == nil)
        #expect(throws: PostgresError.self) { try row.decode(13, as: Int64.self) }
        #expect(try row.decode(14, as: String.self) == "bound")
        #expect(try row.decodeIfPresent(15, as: Int64.self) == nil)
        await connection.close()
    }

    @Test func valuesAreBoundNeverSpliced() async throws {
        let connection = try await TestDatabase.connect()
        let hostile = "'); DROP TABLE pg_class; --"
        let row = try await connection.query("SELECT $1::text, $2::text[]", [hostile, [hostile, "x\"y"]]).single()
        #expect(try row.decode(0, as: String.self) == hostile)
        #expect(try row.decode(1, as: [String].self) == [hostile, "x\"y"])
        await connection.close()
    }

    @Test func uniqueViolationCarriesSQLStateDetailAndConstraint() async throws {
        try await TestDatabase.withSchema(create: true) { schema in
            let connection = try await TestDatabase.connect()
            _ = try await connection.query("CREATE TABLE \(schema.quoted).items (id int CONSTRAINT items_pk PRIMARY KEY)")
            _ = try await connection.query("INSERT INTO \(schema.quoted).items VALUES (1)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO \(schema.quoted).items VALUES (1)")
            }
            #expect(error?.kind == .uniqueViolation)
            #expect(error?.sqlState == "23505")
            #expect(error?.constraint == "items_pk")
            #expect(error?.detail?.contains("(id)=(1)") == true)
            #expect(error?.table == "items")
            // The connection is still usable after a statement error.
            #expect(try await connection.query("SELECT 1").single().decode(0, as: Int.self) == 1)
            await connection.close()
        }
    }

    @Test func preparedStatementsAreReused() async throws {
        let connection = try await TestDatabase.connect()
        for value in 1...3 {
            let row = try await connection.execute(prepared: "double_it", "SELECT $1::int * 2", [value]).single()
            #expect(try row.decode(0, as: Int.self) == value * 2)
        }
        let count = try await connection.query("SELECT count(*) FROM pg_prepared_statements WHERE name = 'double_it'").single()
        #expect(try count.decode(0, as: Int.self) == 1)
        await connection.close()
    }

    @Test func transactionRollsBackWhenTheBodyThrows() async throws {
        try await TestDatabase.withSchema(create: true) { schema in
            let connection = try await TestDatabase.connect()
            _ = try await connection.query("CREATE TABLE \(schema.quoted).t (v int)")
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await connection.withTransaction { tx in
                    _ = try await tx.query("INSERT INTO \(schema.quoted).t VALUES (1)")
                    throw Boom()
                }
            }
            try await connection.withTransaction { tx in
                _ = try await tx.query("INSERT INTO \(schema.quoted).t VALUES (2)")
            }
            let values = try await connection.query("SELECT v FROM \(schema.quoted).t").rows.map { try $0.decode(0, as: Int.self) }
            #expect(values == [2])
            await connection.close()
        }
    }

    @Test func transactionRollsBackWhenTheTaskIsCancelled() async throws {
        try await TestDatabase.withSchema(create: true) { schema in
            let setup = try await TestDatabase.connect()
            _ = try await setup.query("CREATE TABLE \(schema.quoted).t (v int)")
            let task = Task {
                let connection = try await TestDatabase.connect()
                defer { Task { await connection.close() } }
                try await connection.withTransaction { tx in
                    _ = try await tx.query("INSERT INTO \(schema.quoted).t VALUES (1)")
                    _ = try await tx.query("SELECT pg_sleep(30), '\(schema.name)'")
                }
            }
            // This test's statement (named by its schema), not another test's pg_sleep.
            try await waitUntil("the server running pg_sleep(30)") {
                try await setup.query("SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'",
                                      ["SELECT pg_sleep(30), '\(schema.name)'"]).single().decode(0, as: Int.self) > 0
            }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            let count = try await setup.query("SELECT count(*) FROM \(schema.quoted).t").single().decode(0, as: Int.self)
            #expect(count == 0)
            await setup.close()
        }
    }

    /// More statements blocked on the server than Swift has cooperative threads, all waiting
    /// for a transaction of this process: the transaction still commits and releases them.
    /// With libpq running on the cooperative pool, the blocked calls took every thread and
    /// the transaction never got one back (the process hung).
    @Test func statementsBlockedOnTheServerLeaveTheCooperativePoolFree() async throws {
        let holder = try await TestDatabase.connect()
        let waiters = try await withThrowingTaskGroup(of: PostgresConnection.self) { group in
            for _ in 0..<(ProcessInfo.processInfo.activeProcessorCount * 2 + 2) { group.addTask { try await TestDatabase.connect() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Were the pool blocked, the waiters' lock timeout would free it and fail them.
        for waiter in waiters { _ = try await waiter.query("SET lock_timeout = '60s'") }
        let key = Int64.random(in: 1...Int64.max)
        _ = try await holder.simpleQuery("BEGIN")
        _ = try await holder.query("SELECT pg_advisory_xact_lock($1)", [key])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for waiter in waiters { group.addTask { _ = try await waiter.query("SELECT pg_advisory_xact_lock($1)", [key]) } }
            try await waitUntil("every waiter blocked on the lock") {
                try await TestDatabase.query(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid::bigint = $1::bigint >> 32 AND objid::bigint = $1::bigint & 4294967295",
                    [key]
                ).single().decode(0, as: Int.self) >= waiters.count
            }
            _ = try await holder.simpleQuery("COMMIT")
            try await group.waitForAll()
        }
        for waiter in waiters { await waiter.close() }
        await holder.close()
    }

    @Test func cancellingTheTaskCancelsARunningQuery() async throws {
        let connection = try await TestDatabase.connect()
        let clock = ContinuousClock()
        let started = clock.now
        let marker = "cancel-\(UUID().uuidString.prefix(8))"
        let task = Task { try await connection.query("SELECT pg_sleep(30), '\(marker)'") }
        // Cancel only once the server runs it (a fixed sleep raced the send on a loaded machine).
        try await waitUntil("the server running the query to cancel") {
            try await TestDatabase.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active'",
                                         ["SELECT pg_sleep(30), '\(marker)'%"]).single().decode(0, as: Int.self) > 0
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Not a benchmark: without PQcancel this would take the full 30 s.
        #expect(clock.now - started < .seconds(15))
        #expect(try await connection.query("SELECT 1").single().decode(0, as: Int.self) == 1)
        await connection.close()
    }

    @Test func terminatedPooledConnectionIsClassifiedAndReplaced() async throws {
        let pool = ConnectionPool(connectionString: try TestDatabase.connectionString(), options: .init(maxConnections: 1))
        let firstPID = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()").single().decode(0, as: Int32.self) }
        try await TestDatabase.query("SELECT pg_terminate_backend($1::int)", [firstPID])
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try await $0.query("SELECT 1") }
        }
        #expect(error?.kind == .connectionLost)
        let secondPID = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()").single().decode(0, as: Int32.self) }
        #expect(secondPID != firstPID)
        await pool.close()
    }

    @Test func poolNeverExceedsItsSizeAndTimesOutWaiters() async throws {
        let pool = ConnectionPool(
            connectionString: try TestDatabase.connectionString(),
            options: .init(maxConnections: 2, acquireTimeout: .milliseconds(300), applicationName: "pool-size-test")
        )
        let held = try await [pool.acquire(), pool.acquire()]
        let error = await #expect(throws: PostgresError.self) { try await pool.acquire() }
        #expect(error?.kind == .poolTimeout)
        pool.release(held[0])
        let reused = try await pool.acquire()
        #expect(reused === held[0])
        let count = try await TestDatabase.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool-size-test'")
        #expect(try count.single().decode(0, as: Int.self) == 2)
        pool.release(reused)
        pool.release(held[1])
        await pool.close()
    }

    @Test func listenerReceivesNotificationsAndReconnectsAfterTermination() async throws {
        let listener = PostgresListener(connectionString: try TestDatabase.connectionString())
        defer { listener.stop() }
        let channel = try #require(SQLIdentifier("test_listen_\(UInt32.random(in: 0...UInt32.max))"))
        var events = listener.events().makeAsyncIterator()
        try await listener.listen(channel)
        try await TestDatabase.query("SELECT pg_notify($1, 'hello')", [channel.name])
        #expect(await events.next() == .notification(channel: channel.name, payload: "hello"))

        let terminated = try await TestDatabase.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'muster-listener' AND query LIKE $1",
            ["LISTEN \(channel.quoted)%"]
        )
        #expect(terminated.rows.count == 1)
        #expect(await events.next() == .reconnected)
        // After the reconnect the channel is LISTENed again.
        try await TestDatabase.query("SELECT pg_notify($1, 'again')", [channel.name])
        #expect(await events.next() == .notification(channel: channel.name, payload: "again"))
    }
}
