import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// `muster migrate` and `Migrator` against a real server.
@Suite struct MigrationIntegrationTests {
    private func appliedVersions(_ schema: SchemaName) async throws -> [Int] {
        try await TestDatabase.query("SELECT version FROM \(schema.quoted).schema_migrations ORDER BY version")
            .rows.map { try $0.decode(0, as: Int.self) }
    }

    private func tableExists(_ schema: SchemaName, _ table: String) async throws -> Bool {
        try await TestDatabase.query("SELECT to_regclass($1) IS NOT NULL", ["\(schema.quoted).\(table)"]).single().decode(0)
    }

    @Test func migrateAppliesEverythingOnceAndThenNothing() async throws {
        try await TestDatabase.withSchema { schema in
            let migrator = try Migrator(database: try TestDatabase.configuration(), schema: schema)
            #expect(try await migrator.status().allSatisfy { $0.state == .pending })
            let applied = try await migrator.migrate()
            #expect(applied == Migration.bundled)
            #expect(try await migrator.migrate().isEmpty)
            #expect(try await appliedVersions(schema) == Migration.bundled.map(\.version))
            #expect(try await migrator.status().allSatisfy { $0.state == .applied })
            try await migrator.requireCurrent()
        }
    }

    /// The tables every message churns are vacuumed after 10,000 dead rows, unthrottled
    /// (0014_autovacuum.sql); the history tables keep the server's defaults.
    @Test func theHotTablesCarryTheirOwnAutovacuumSettings() async throws {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            func options(_ table: String) async throws -> [String] {
                try await TestDatabase.query("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass", ["\(schema.quoted).\(table)"])
                    .single().decode(0)
            }
            let messages = try await options("messages")
            for setting in ["autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=10000", "autovacuum_vacuum_cost_delay=0",
                            "autovacuum_vacuum_insert_scale_factor=0", "autovacuum_vacuum_insert_threshold=10000"] {
                #expect(messages.contains(setting), "\(messages)")
            }
            #expect(try await options("message_keys").contains("autovacuum_vacuum_threshold=10000"))
            #expect(try await options("archive").isEmpty)
        }
    }

    @Test func statusCreatesNothing() async throws {
        try await TestDatabase.withSchema { schema in
            let migrator = try Migrator(database: try TestDatabase.configuration(), schema: schema)
            _ = try await migrator.status()
            let exists = try await TestDatabase.query("SELECT count(*) FROM pg_namespace WHERE nspname = $1", [schema.name])
            #expect(try exists.single().decode(0, as: Int.self) == 0)
            let error = await #expect(throws: MusterError.self) { try await migrator.requireCurrent() }
            #expect(error?.code == .schemaNotInstalled)
        }
    }

    @Test func eightConcurrentMigratorProcessesApplyEachMigrationOnce() async throws {
        try await TestDatabase.withSchema { schema in
            let url = try TestDatabase.url()
            let children = try (0..<8).map { _ in
                try ChildProcess(["migrate", "--database-url", url, "--schema", schema.name])
            }
            for child in children {
                let status = await child.wait()
                #expect(status == 0, "migrator failed: \(child.output())")
            }
            #expect(try await appliedVersions(schema) == Migration.bundled.map(\.version))
        }
    }

    @Test func cliStatusJSONShowsEveryMigrationApplied() async throws {
        try await TestDatabase.withSchema { schema in
            let url = try TestDatabase.url()
            #expect(try await ChildProcess.run(["migrate", "--database-url", url, "--schema", schema.name]).status == 0)
            let (status, output) = try await ChildProcess.run(["migrate", "--status", "--json", "--database-url", url, "--schema", schema.name])
            #expect(status == 0)
            let entries = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]]
            #expect(entries?.count == Migration.bundled.count)
            #expect(entries?.allSatisfy { $0["state"] as? String == "applied" } == true)
            let again = try await ChildProcess.run(["migrate", "--json", "--database-url", url, "--schema", schema.name])
            #expect(again.status == 0)
            #expect(again.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || again.output.contains("[]"))
        }
    }

    @Test func tamperedMigrationIsRefusedBeforeAnythingIsApplied() async throws {
        try await TestDatabase.withSchema { schema in
            let database = try TestDatabase.configuration()
            let original = try Migration(fileName: "0001_a.sql", sql: "CREATE TABLE a (id int);")
            try await Migrator(database: database, schema: schema, migrations: [original]).migrate()
            let tampered = try Migration(fileName: "0001_a.sql", sql: "CREATE TABLE a (id bigint);")
            let next = try Migration(fileName: "0002_b.sql", sql: "CREATE TABLE b (id int);")
            let migrator = try Migrator(database: database, schema: schema, migrations: [tampered, next])
            let error = await #expect(throws: MusterError.self) { try await migrator.migrate() }
            #expect(error?.code == .migrationModified)
            #expect(error?.message.contains("0001_a.sql") == true)
            #expect(try await !tableExists(schema, "b"))
            #expect(try await migrator.status().map(\.state) == [.modified, .pending])
        }
    }

    @Test func databaseNewerThanTheBinaryIsRefused() async throws {
        try await TestDatabase.withSchema { schema in
            let database = try TestDatabase.configuration()
            let one = try Migration(fileName: "0001_a.sql", sql: "CREATE TABLE a (id int);")
            let two = try Migration(fileName: "0002_b.sql", sql: "CREATE TABLE b (id int);")
            try await Migrator(database: database, schema: schema, migrations: [one, two]).migrate()
            let older = try Migrator(database: database, schema: schema, migrations: [one])
            let error = await #expect(throws: MusterError.self) { try await older.migrate() }
            #expect(error?.code == .schemaTooNew)
            #expect(await (#expect(throws: MusterError.self) { try await older.requireCurrent() })?.code == .schemaTooNew)
        }
    }

    @Test func failingMigrationLeavesNoPartialSchemaAndNamesFileAndLine() async throws {
        try await TestDatabase.withSchema { schema in
            let database = try TestDatabase.configuration()
            let good = try Migration(fileName: "0001_good.sql", sql: "CREATE TABLE good (id int);\n")
            let bad = try Migration(fileName: "0002_bad.sql", sql: "CREATE TABLE half (id int);\nCREATE TABLE broken (id nosuchtype);\n")
            let migrator = try Migrator(database: database, schema: schema, migrations: [good, bad])
            let error = await #expect(throws: MusterError.self) { try await migrator.migrate() }
            #expect(error?.code == .migrationFailed)
            #expect(error?.message.contains("0002_bad.sql") == true)
            #expect(error?.message.contains("line 2") == true)
            #expect(error?.message.contains("nosuchtype") == true)
            #expect(try await tableExists(schema, "good"))
            #expect(try await !tableExists(schema, "half"))
            #expect(try await appliedVersions(schema) == [1])
        }
    }

    @Test func maliciousSchemaNameIsRefusedAndChangesNothing() async throws {
        try await TestDatabase.query("CREATE TABLE IF NOT EXISTS public.y (id int)")
        let (status, output) = try await ChildProcess.run(["migrate", "--database-url", try TestDatabase.url(), "--schema", "x; drop table y"])
        #expect(status == 2)
        #expect(output.contains("invalid schema name"))
        #expect(try await TestDatabase.query("SELECT to_regclass('public.y') IS NOT NULL").single().decode(0, as: Bool.self))
        let created = try await TestDatabase.query("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'x%'")
        #expect(try created.single().decode(0, as: Int.self) == 0)
    }

    @Test func printSQLProducesAScriptPsqlCanApply() async throws {
        try await TestDatabase.withSchema { schema in
            let url = try TestDatabase.url()
            let (status, script) = try await ChildProcess.run(["migrate", "--print-sql", "--all", "--schema", schema.name])
            #expect(status == 0)
            let file = FileManager.default.temporaryDirectory.appending(path: "muster-\(schema.name).sql")
            try script.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let psql = try await ChildProcess.run(["-v", "ON_ERROR_STOP=1", "-q", "-f", file.path, url], executable: "/usr/bin/psql")
            #expect(psql.status == 0, "\(psql.output)")
            // The tool agrees that the psql-applied schema is current.
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).requireCurrent()
        }
    }
}

extension ChildProcess {
    static func run(_ arguments: [String], executable: String) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(arguments, executable: executable)
        let status = await child.wait()
        return (status, child.output())
    }
}

extension MigrationIntegrationTests {
    private func muster(_ arguments: [String], schema: SchemaName) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(["migrate"] + arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name])
    }

    private func schemaExists(_ schema: SchemaName) async throws -> Bool {
        try await TestDatabase.query("SELECT count(*) FROM pg_namespace WHERE nspname = $1", [schema.name]).single().decode(0, as: Int.self) == 1
    }

    /// `muster migrate --uninstall` drops a Muster schema with everything in it, only when
    /// confirmed, not while workers are alive unless forced, and never a schema Muster did not
    /// install.
    @Test func uninstallDropsOnlyAConfirmedMusterSchemaWithNoLiveWorkers() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster([], schema: schema).status == 0)
            let client = MusterClient(database: try TestDatabase.configuration(), schema: schema)
            try await client.createQueue("jobs")
            _ = try await client.queue("jobs").send([OutgoingMessage(payload: .emptyObject), OutgoingMessage(payload: .emptyObject)])
            await client.shutdown()
            try await TestDatabase.query("INSERT INTO \(schema.quoted).workers (id, host, pid, queues, concurrency) VALUES ('w1', 'h', 1, '{jobs}', 1)")

            let unconfirmed = try await muster(["--uninstall"], schema: schema)
            #expect(unconfirmed.status == 2 && unconfirmed.output.contains("add --yes"), "\(unconfirmed.output)")
            let alive = try await muster(["--uninstall", "--yes"], schema: schema)
            #expect(alive.status == 2 && alive.output.contains("1 workers of schema \(schema.name) are alive"), "\(alive.output)")
            #expect(try await schemaExists(schema))

            let forced = try await muster(["--uninstall", "--yes", "--force"], schema: schema)
            #expect(forced.status == 0 && forced.output.contains("Dropped schema \(schema.name): 2 messages"), "\(forced.output)")
            #expect(try await !schemaExists(schema))
        }
        try await TestDatabase.withSchema(create: true) { schema in
            try await TestDatabase.query("CREATE TABLE \(schema.quoted).mine (id int)")
            let refused = try await muster(["--uninstall", "--yes", "--force"], schema: schema)
            #expect(refused.status == 2 && refused.output.contains("not a Muster schema"), "\(refused.output)")
            #expect(try await TestDatabase.query("SELECT to_regclass($1) IS NOT NULL", ["\(schema.quoted).mine"]).single().decode(0, as: Bool.self))
        }
    }
}
