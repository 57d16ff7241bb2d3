import Logging
internal import MusterPostgres

/// What a Muster schema holds, as `Migrator.uninstall` reports it.
public struct SchemaContents: Sendable, Hashable, Encodable {
    /// The schema.
    public var schema: String
    /// Messages in any state (ready, delayed, leased).
    public var messages: Int
    public var deadLetters: Int
    public var archived: Int
    public var executions: Int
    /// Workers that have not stopped and beat within the last minute.
    public var aliveWorkers: Int
}

extension Migrator {
    /// What the schema holds now. Throws `invalidArgument` when it is not a Muster schema (it
    /// has no `schema_migrations`).
    public func contents() async throws -> SchemaContents {
        try await withConnection { connection in try await contents(on: connection) }
    }

    /// Drops the schema and everything in it (`DROP SCHEMA … CASCADE`), in one transaction
    /// under the migration lock, and returns what it held. Refuses, dropping nothing, when the
    /// schema is not a Muster schema (`invalidArgument`: only what `muster migrate` installed
    /// is dropped), or while workers are alive unless `force` (`invalidArgument`, naming how
    /// many: their next statements would fail).
    @discardableResult
    public func uninstall(force: Bool = false) async throws -> SchemaContents {
        try await withConnection { connection in
            try await connection.withTransaction { connection in
                _ = try await connection.query(MigrationSQL.lock, [schema.name])
                let contents = try await contents(on: connection)
                if contents.aliveWorkers > 0 && !force {
                    throw MusterError(
                        .invalidArgument,
                        "\(contents.aliveWorkers) workers of schema \(schema) are alive; stop them first, or force it (--force)"
                    )
                }
                _ = try await connection.simpleQuery(MigrationSQL.dropSchema(schema))
                logger.info("dropped schema", metadata: ["schema": "\(schema)", "messages": "\(contents.messages)"])
                return contents
            }
        }
    }

    private func contents(on connection: PostgresConnection) async throws -> SchemaContents {
        guard try await bookkeepingExists(on: connection) else {
            throw MusterError(.invalidArgument, "schema \(schema) is not a Muster schema (it has no schema_migrations): nothing to uninstall")
        }
        func count(_ table: String, where condition: String = "true") async throws -> Int {
            let exists = try await connection.query(MigrationSQL.bookkeepingExists, ["\(schema.quoted).\(table)"]).single().decode(0, as: Bool.self)
            guard exists else { return 0 }
            return try await connection.query(MigrationSQL.count(schema, table, where: condition)).single().decode(0)
        }
        return SchemaContents(
            schema: schema.name,
            messages: try await count("messages"),
            deadLetters: try await count("dead_letters"),
            archived: try await count("archive"),
            executions: try await count("executions"),
            aliveWorkers: try await count("workers", where: MigrationSQL.aliveWorker)
        )
    }
}
