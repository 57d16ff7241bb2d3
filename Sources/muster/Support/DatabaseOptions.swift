import ArgumentParser
import Foundation
import Muster

/// The database options every command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "PostgreSQL URL or conninfo string (default: $MUSTER_DATABASE_URL, $DATABASE_URL, then libpq's PG* variables).",
        valueName: "url"
    ))
    var databaseURL: String?

    @Option(help: "Schema that holds Muster's tables.")
    var schema: String = "muster"

    @Flag(help: "Use (and start if needed) the embedded PostgreSQL under .muster/.")
    var embedded = false

    /// The validated schema name.
    func schemaName() throws -> SchemaName { try SchemaName(schema) }

    /// Where to connect, by the documented precedence. Starts the embedded server when asked.
    func configuration() throws -> DatabaseConfiguration {
        if embedded {
            if databaseURL != nil { throw CommandFailure.usage("--embedded and --database-url exclude each other") }
            let server = EmbeddedPostgres(directory: EmbeddedPostgres.defaultDirectory)
            let status = try server.start(fast: false)
            Terminal.note("Using embedded PostgreSQL at \(status.url) (stop it with `muster embedded stop`).")
            return try DatabaseConfiguration(status.url)
        }
        return try DatabaseConfiguration(Self.resolvedURL(explicit: databaseURL) ?? "")
    }

    /// Runs `body` with a client for these options, shutting it down afterwards.
    func withClient<T>(_ body: (MusterClient) async throws -> T) async throws -> T {
        let client = MusterClient(database: try configuration(), schema: try schemaName(), options: .init(maxConnections: 2))
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// True when neither an option nor the environment names a database.
    static var nothingConfigured: Bool {
        let environment = ProcessInfo.processInfo.environment
        let names = ["MUSTER_DATABASE_URL", "DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE", "PGUSER"]
        return names.allSatisfy { (environment[$0] ?? "").isEmpty }
    }

    /// --database-url, else MUSTER_DATABASE_URL, else DATABASE_URL; nil means libpq's defaults.
    static func resolvedURL(explicit: String?) -> String? {
        let environment = ProcessInfo.processInfo.environment
        for candidate in [explicit, environment["MUSTER_DATABASE_URL"], environment["DATABASE_URL"]] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        return nil
    }
}
