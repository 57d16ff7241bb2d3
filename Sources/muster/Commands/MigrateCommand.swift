import ArgumentParser
import Foundation
import Muster

/// `muster migrate`: apply, inspect or print the schema migrations embedded in this binary.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations (or show their status, or print their SQL).",
        discussion: """
        Migrations run in order, each in its own transaction, serialized across concurrent \
        migrators by a transaction-level advisory lock, recorded in <schema>.schema_migrations. An applied \
        migration whose file changed, or a database newer than this binary, is refused \
        before anything runs.

        Examples:
          muster migrate --embedded
          muster migrate --status --json --database-url postgres://app@db/app
          muster migrate --print-sql --schema jobs > upgrade.sql
          muster migrate --check          # in CI: exit 1 unless every migration is applied
          muster migrate --uninstall --schema jobs   # drop the schema (asks first)

        --check exits 0 when every migration of this binary is applied and unchanged, and 1 \
        (printing the status table) when any is pending, modified or unknown.
        """
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Show each migration's state (applied, pending, modified, unknown) instead of applying.")
    var status = false

    @Flag(name: .customLong("dry-run"), help: "List what would be applied, apply nothing.")
    var dryRun = false

    @Flag(name: .customLong("print-sql"), help: "Print the SQL of the pending migrations (all with --all) instead of applying.")
    var printSQL = false

    @Flag(help: "With --print-sql: print every migration without connecting to a database.")
    var all = false

    @Flag(help: "Exit 1 unless every migration is applied and unchanged (a CI gate); applies nothing.")
    var check = false

    @Flag(help: "Drop the schema and everything in it (asks first; refuses while workers are alive).")
    var uninstall = false

    @Flag(help: "With --uninstall: do not ask (needed when standard input is not a terminal).")
    var yes = false

    @Flag(help: "With --uninstall: drop it even while workers are alive.")
    var force = false

    @Flag(help: "Machine-readable output.")
    var json = false

    func validate() throws {
        if [status, dryRun, printSQL, check, uninstall].filter({ $0 }).count > 1 {
            throw ValidationError("--status, --dry-run, --print-sql, --check and --uninstall exclude each other")
        }
        if all && !printSQL { throw ValidationError("--all goes with --print-sql") }
        if (yes || force) && !uninstall { throw ValidationError("--yes and --force go with --uninstall") }
    }

    func run() async throws {
        let schema = try database.schemaName()
        if printSQL && all {
            let migrator = try Migrator(database: .environment, schema: schema)
            print(migrator.script(for: migrator.migrations), terminator: "")
            return
        }
        let migrator = try Migrator(database: try database.configuration(), schema: schema)
        if status {
            try printStatus(try await migrator.status())
        } else if check {
            let statuses = try await migrator.status()
            let behind = statuses.filter { $0.state != .applied }
            guard behind.isEmpty else {
                try printStatus(statuses)
                let counts = Dictionary(grouping: behind, by: \.state.rawValue).map { "\($0.value.count) \($0.key)" }.sorted()
                throw CommandFailure(message: "schema \(schema) is not current: \(counts.joined(separator: ", "))", status: 1)
            }
            if !json { print("Schema \(schema) is current: \(statuses.count) migrations applied.") } else { try printStatus(statuses) }
        } else if uninstall {
            try await uninstall(with: migrator, schema: schema)
        } else if printSQL {
            print(migrator.script(for: try await migrator.pending()), terminator: "")
        } else if dryRun {
            try report(try await migrator.pending(), verb: "would apply")
        } else {
            try report(try await migrator.migrate(), verb: "applied")
        }
    }

    /// Shows what the schema holds, asks for its name unless `--yes`, then drops it.
    private func uninstall(with migrator: Migrator, schema: SchemaName) async throws {
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw CommandFailure.usage("--uninstall drops schema \(schema) and everything in it: add --yes to confirm")
            }
            let held = try await migrator.contents()
            Terminal.note("""
                This drops schema \(schema) with everything in it: \(held.messages) messages, \(held.deadLetters) dead letters, \
                \(held.archived) archived, \(held.executions) executions (\(held.aliveWorkers) workers alive).
                Type the schema name to confirm:
                """)
            guard readLine()?.trimmingCharacters(in: .whitespaces) == schema.name else {
                throw CommandFailure(message: "not confirmed; nothing was dropped", status: 1)
            }
        }
        let removed = try await migrator.uninstall(force: force)
        if json { return try Terminal.printJSON(removed) }
        print("Dropped schema \(schema): \(removed.messages) messages, \(removed.deadLetters) dead letters, \(removed.archived) archived, \(removed.executions) executions.")
    }

    private func printStatus(_ statuses: [MigrationStatus]) throws {
        if json { return try Terminal.printJSON(statuses) }
        Terminal.printTable(
            ["VERSION", "NAME", "STATE", "APPLIED AT"],
            statuses.map { status in
                [String(format: "%04d", status.version), status.name, status.state.description,
                 status.appliedAt.map { $0.formatted(.iso8601) } ?? "-"]
            }
        )
    }

    private func report(_ migrations: [Migration], verb: String) throws {
        struct Entry: Encodable { var version: Int; var name: String; var file: String; var checksum: String }
        if json {
            return try Terminal.printJSON(migrations.map {
                Entry(version: $0.version, name: $0.name, file: $0.fileName, checksum: $0.checksum)
            })
        }
        if migrations.isEmpty { return print("Schema \(database.schema) is up to date; nothing to apply.") }
        for migration in migrations { print("\(verb) \(migration.fileName)") }
    }
}
