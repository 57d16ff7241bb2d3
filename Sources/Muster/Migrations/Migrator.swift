import Foundation
public import Logging
internal import MusterPostgres

/// Applies the migrations in `migrations/` (embedded in the binary) to one schema.
///
/// Guarantees: migrations run in version order, each in its own transaction, recorded in
/// `<schema>.schema_migrations` with a SHA-256 checksum; concurrent migrators of one schema
/// are serialized by a transaction-level advisory lock taken in each of those transactions
/// (no session needed, so it works through a transaction-mode pooler), and each migration is
/// applied exactly once; an applied file that changed, or a database newer than the binary,
/// is refused before anything is applied; a failing migration rolls back completely and the
/// error names the file, the server's message and the line.
public struct Migrator: Sendable {
    /// The target schema.
    public let schema: SchemaName
    /// The migrations this migrator knows, in order.
    public let migrations: [Migration]
    private let database: DatabaseConfiguration
    let logger: Logger

    /// - Parameter migrations: defaults to the ones embedded in this binary.
    public init(
        database: DatabaseConfiguration,
        schema: SchemaName = .default,
        migrations: [Migration] = Migration.bundled,
        logger: Logger = Logger(label: "muster.migrate")
    ) throws {
        self.database = database
        self.schema = schema
        self.migrations = try Migration.ordered(migrations)
        self.logger = logger
    }

    /// Each known or applied migration with its state. Creates nothing.
    public func status() async throws -> [MigrationStatus] {
        try await withConnection { connection in
            try await plan(on: connection).statuses
        }
    }

    /// The migrations `migrate()` would apply now, in order. Creates nothing.
    public func pending() async throws -> [Migration] {
        try await withConnection { connection in
            let plan = try await plan(on: connection)
            try plan.validate()
            return plan.pending
        }
    }

    /// Applies every pending migration, returning the ones this call applied (empty when up to
    /// date or when concurrent migrators applied them).
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await withConnection { connection in
            var applied: [Migration] = []
            while let migration = try await applyNext(on: connection) { applied.append(migration) }
            return applied
        }
    }

    /// One transaction: takes the schema's migration lock, creates the bookkeeping table when
    /// missing, reads what is applied under the lock (a concurrent migrator may just have
    /// applied more), checks it, and applies the first pending migration. Nil when nothing is
    /// pending. The lock is transaction-level: it lives exactly as long as the transaction, so
    /// it needs no session between statements and works through a transaction-mode pooler.
    private func applyNext(on connection: PostgresConnection) async throws -> Migration? {
        try await connection.withTransaction { connection in
            _ = try await connection.query(MigrationSQL.lock, [schema.name])
            if try await !bookkeepingExists(on: connection) {
                _ = try await connection.simpleQuery(MigrationSQL.bootstrap(schema))
            }
            let plan = try await plan(on: connection)
            try plan.validate()
            guard let next = plan.pending.first else { return nil }
            try await apply(next, on: connection)
            return next
        }
    }

    /// Throws `schemaOutdated`, `schemaTooNew`, `migrationModified` or `schemaNotInstalled`
    /// unless the database is exactly at this binary's version. Workers call this first.
    public func requireCurrent() async throws {
        try await withConnection { connection in
            let plan = try await plan(on: connection)
            if plan.statuses.allSatisfy({ $0.state == .pending }) {
                throw MusterError(.schemaNotInstalled, "schema \(schema) is not installed: run `muster migrate --schema \(schema)`")
            }
            try plan.requireCurrent()
        }
    }

    /// The SQL that applying `migrations` runs, as one script for psql or another tool.
    public func script(for migrations: [Migration]) -> String {
        MigrationSQL.script(migrations, schema: schema)
    }

    /// Runs `migration` and records it, inside the caller's transaction.
    private func apply(_ migration: Migration, on connection: PostgresConnection) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        do {
            _ = try await connection.simpleQuery(MigrationSQL.searchPath(schema))
            _ = try await connection.simpleQuery(migration.sql)
            let elapsed = clock.now - started
            let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            _ = try await connection.query(
                MigrationSQL.record(schema),
                [migration.version, migration.name, migration.checksum, milliseconds]
            )
        } catch let error as PostgresError where !error.isConnectionLost {
            var location = ""
            if let position = error.position {
                let (line, column) = Self.lineAndColumn(of: position, in: migration.sql)
                location = " at line \(line), column \(column)"
            }
            throw MusterError(
                .migrationFailed,
                "migration \(migration.fileName) failed\(location): \(error.message); nothing of it was applied",
                sqlState: error.sqlState, detail: error.detail, hint: error.hint
            )
        }
        logger.info("applied migration", metadata: ["file": "\(migration.fileName)", "schema": "\(schema)"])
    }

    func bookkeepingExists(on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(MigrationSQL.bookkeepingExists, ["\(schema.quoted).schema_migrations"]).single().decode(0, as: Bool.self)
    }

    private func plan(on connection: PostgresConnection) async throws -> MigrationPlan {
        guard try await bookkeepingExists(on: connection) else {
            return MigrationPlan(available: migrations, applied: [])
        }
        let rows = try await connection.query(MigrationSQL.applied(schema))
        let applied = try rows.rows.map { row in
            AppliedMigration(
                version: try row.decode(0),
                name: try row.decode(1),
                checksum: try row.decode(2),
                appliedAt: try row.decode(3),
                appliedBy: try row.decode(4),
                durationMilliseconds: try row.decode(5)
            )
        }
        return MigrationPlan(available: migrations, applied: applied)
    }

    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await MusterError.translating(schema: schema) {
            let connection = try await PostgresConnection.connect(
                to: database.connectionString, applicationName: "muster-migrate", logger: logger
            )
            do {
                let value = try await body(connection)
                await connection.close()
                return value
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    /// Converts PostgreSQL's 1-based character position into a 1-based line and column.
    static func lineAndColumn(of position: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for (offset, character) in text.enumerated() {
            if offset + 1 >= position { break }
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
