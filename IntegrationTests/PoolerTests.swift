import Foundation
import Logging
@testable import Muster
import Testing
@testable import MusterPostgres

/// Muster behind a transaction-mode pooler (PgBouncer 1.18, started by scripts/test.sh) and
/// the statement modes that make it work there. The queue, worker and pipeline suites also
/// run whole through PgBouncer in test.sh's pooler phases.
@Suite struct PoolerTests {
    @Test func eightMigratorsThroughPgBouncerApplyEachMigrationOnce() async throws {
        let url = try TestDatabase.pgbouncerURL()
        try await TestDatabase.withSchema { schema in
            let migrators = try (0..<8).map { _ in
                try ChildProcess(["migrate", "--database-url", url, "--schema", schema.name])
            }
            var applied = 0
            for migrator in migrators {
                #expect(await migrator.wait() == 0, "\(migrator.output())")
                applied += migrator.output().split(separator: "\n").filter { $0.hasPrefix("applied ") }.count
            }
            // Each migration applied by exactly one of them, recorded once.
            #expect(applied == Migration.bundled.count)
            let versions = try await TestDatabase.query("SELECT version FROM \(schema.quoted).schema_migrations ORDER BY version")
                .rows.map { try $0.decode(0, as: Int.self) }
            #expect(versions == Migration.bundled.map(\.version))
            try await Migrator(database: try DatabaseConfiguration(url), schema: schema).requireCurrent()
        }
    }

    /// The server forgets the session's prepared statements (`DEALLOCATE ALL`), as it seems to
    /// when a transaction pooler hands the session another backend: the next statement is
    /// refused, the client switches to unnamed statements, says why once, and runs the
    /// statement again, so the caller sees nothing. Deterministic on a direct connection.
    @Test func aRefusedPreparedStatementSwitchesTheClientToUnnamedStatementsOnce() async throws {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            let log = LogRecorder()
            let client = MusterClient(database: try TestDatabase.configuration(), schema: schema,
                                      options: .init(maxConnections: 1, statementMode: .prepared), logger: log.logger)
            defer { Task { await client.shutdown() } }
            try await client.createQueue("jobs")
            let queue = client.queue("jobs")
            _ = try await queue.send(OutgoingMessage(payload: .emptyObject))        // prepared
            try await forgetPreparedStatements(of: client)
            _ = try await queue.send(OutgoingMessage(payload: .emptyObject))        // refused, then unnamed
            try await forgetPreparedStatements(of: client)
            _ = try await queue.send(OutgoingMessage(payload: .emptyObject))        // unnamed: nothing to refuse
            #expect(try await queue.metrics().ready == 3)
            let warnings = log.messages(at: .warning)
            #expect(warnings == ["the server refused a prepared statement; sending unnamed statements from now on"])
            #expect(try await preparedStatementCount(of: client) == 0)
        }
    }

    /// Inside a transaction the refusal aborted the transaction: the error is the caller's,
    /// and it names the likely cause. The statements that follow are unnamed and work.
    @Test func aRefusalInsideATransactionFailsItWithAHintNamingThePooler() async throws {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            let client = MusterClient(database: try TestDatabase.configuration(), schema: schema, options: .init(maxConnections: 1))
            defer { Task { await client.shutdown() } }
            try await client.createQueue("jobs")
            let queue = client.queue("jobs")
            _ = try await queue.send(OutgoingMessage(payload: .emptyObject))
            try await forgetPreparedStatements(of: client)
            let error = await #expect(throws: MusterError.self) {
                try await client.withTransaction { transaction in
                    _ = try await queue.send(OutgoingMessage(payload: .emptyObject), in: transaction)
                }
            }
            #expect(error?.sqlState == "26000")
            #expect(error?.hint?.contains("transaction-mode pooler") == true && error?.hint?.contains("--statements unnamed") == true)
            #expect(try await queue.metrics().ready == 1)
            try await client.withTransaction { transaction in
                _ = try await queue.send(OutgoingMessage(payload: .emptyObject), in: transaction)
            }
            #expect(try await queue.metrics().ready == 2)
        }
    }

    /// Through PgBouncer with the default (prepared) mode and eight connections: sends, reads
    /// and acks all succeed; the client switches itself once the pooler mixes sessions.
    @Test func theDefaultModeThroughPgBouncerLosesNoStatement() async throws {
        let url = try TestDatabase.pgbouncerURL()
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try DatabaseConfiguration(url), schema: schema).migrate()
            let client = MusterClient(database: try DatabaseConfiguration(url), schema: schema, options: .init(maxConnections: 8))
            defer { Task { await client.shutdown() } }
            try await client.createQueue("jobs")
            let queue = client.queue("jobs")
            let acked = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var acked = 0
                        for _ in 0..<25 {
                            _ = try await queue.send(OutgoingMessage(payload: .emptyObject))
                            for message in try await queue.read(limit: 1) where try await queue.ack(message.lease) { acked += 1 }
                        }
                        return acked
                    }
                }
                return try await group.reduce(0, +)
            }
            var rest = 0
            while case let messages = try await queue.read(limit: 100), !messages.isEmpty {
                rest += try await queue.ack(messages.map(\.lease)).applied.count
            }
            // Every send went in once and every message was acked once.
            #expect(acked + rest == 200)
            let metrics = try await queue.metrics()
            #expect(metrics.ready + metrics.leased + metrics.delayed == 0)
        }
    }

    /// Drops every prepared statement of the client's one pooled connection.
    private func forgetPreparedStatements(of client: MusterClient) async throws {
        _ = try await client.pool.withConnection { try await $0.simpleQuery("DEALLOCATE ALL") }
    }

    private func preparedStatementCount(of client: MusterClient) async throws -> Int {
        try await client.pool.withConnection { try await $0.query("SELECT count(*) FROM pg_prepared_statements") }.single().decode(0)
    }
}

extension PoolerTests {
    /// Behind PgBouncer without a listen connection the client does not LISTEN (the pooler
    /// would hand the listening session to others): long polls poll, and it says so once.
    @Test func behindPgBouncerWithoutAListenURLLongPollsPollAndSaySoOnce() async throws {
        let url = try TestDatabase.pgbouncerURL()
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try DatabaseConfiguration(url), schema: schema).migrate()
            let log = LogRecorder()
            let name = "pooled_\(schema.name)"
            let client = MusterClient(database: try DatabaseConfiguration(url), schema: schema,
                                      options: .init(applicationName: name, statementMode: .unnamed), logger: log.logger)
            defer { Task { await client.shutdown() } }
            try await client.createQueue("jobs")
            let queue = client.queue("jobs")
            for n in 0..<2 {
                async let reader = queue.read(waitUpTo: .seconds(120), pollInterval: .milliseconds(100))
                _ = try await queue.send(QueueFixture.payload(n))
                #expect(try await reader.map(\.n) == [n])
            }
            #expect(log.messages(at: .warning) == ["statements go through a transaction pooler and no listen connection is configured; polling instead of LISTEN"])
            let listeners = try await TestDatabase.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", ["\(name)-listener"]
            )
            #expect(try listeners.single().decode(0, as: Int.self) == 0)
        }
    }

    /// With a listen connection the pool goes through PgBouncer and NOTIFY still wakes a long
    /// poll that would otherwise sleep for two minutes.
    @Test func behindPgBouncerAListenURLWakesLongPollsAtOnce() async throws {
        let url = try TestDatabase.pgbouncerURL()
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try DatabaseConfiguration(url), schema: schema).migrate()
            let name = "pooled_\(schema.name)"
            let client = MusterClient(database: try DatabaseConfiguration(url), schema: schema, options: .init(
                applicationName: name, statementMode: .unnamed, listenDatabase: try TestDatabase.configuration()
            ))
            defer { Task { await client.shutdown() } }
            try await client.createQueue("jobs")
            let fixture = QueueFixture(schema: schema, client: client, queue: client.queue("jobs"), applicationName: name)
            let woken = try await fixture.readWokenBy { _ = try await fixture.queue.send(QueueFixture.payload(7)) }
            #expect(woken.messages.map(\.n) == [7])
            #expect(woken.after < .seconds(60))
        }
    }
}
