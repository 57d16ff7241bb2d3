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

    @Option(help: ArgumentHelp(
        "How statements are sent: prepared (fastest on a direct connection; switches to unnamed by itself when a pooler refuses one) or unnamed (through any transaction pooler, e.g. PgBouncer before 1.21) (default: $MUSTER_STATEMENTS, then prepared).",
        valueName: "mode"
    ))
    var statements: StatementMode?

    @Option(name: .customLong("listen-url"), help: ArgumentHelp(
        "A direct connection for LISTEN when --database-url goes through a transaction pooler (default: $MUSTER_LISTEN_URL; without one, behind a pooler, workers poll).",
        valueName: "url"
    ))
    var listenURL: String?

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

    /// A client for these options: the database, schema, statement mode and listen connection.
    func client(
        maxConnections: Int, applicationName: String = "muster", useListenNotify: Bool = true,
        database configuration: DatabaseConfiguration? = nil
    ) throws -> MusterClient {
        let environment = ProcessInfo.processInfo.environment
        var mode = statements
        if mode == nil, let text = environment["MUSTER_STATEMENTS"], !text.isEmpty {
            guard let parsed = StatementMode(rawValue: text) else {
                throw CommandFailure.usage("MUSTER_STATEMENTS must be prepared or unnamed, not \(Terminal.printable(text))")
            }
            mode = parsed
        }
        let listen = [listenURL, environment["MUSTER_LISTEN_URL"]].compactMap { $0 }.first { !$0.isEmpty }
        let options = MusterClient.Options(
            maxConnections: maxConnections, useListenNotify: useListenNotify, applicationName: applicationName,
            statementMode: mode ?? .prepared, listenDatabase: try listen.map { try DatabaseConfiguration($0) }
        )
        return MusterClient(database: try configuration ?? self.configuration(), schema: try schemaName(), options: options)
    }

    /// These options as arguments for a child `muster` process, `--database-url` and
    /// `--embedded` left out.
    var forwardedArguments: [String] {
        var arguments = ["--schema", schema]
        if let statements { arguments += ["--statements", statements.rawValue] }
        if let listenURL { arguments += ["--listen-url", listenURL] }
        return arguments
    }

    /// Runs `body` with a client for these options (on `configuration` when given), shutting
    /// it down afterwards.
    func withClient<T>(database configuration: DatabaseConfiguration? = nil, _ body: (MusterClient) async throws -> T) async throws -> T {
        let client = try client(maxConnections: 2, database: configuration)
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch var error as MusterError where error.code == .schemaNotInstalled && embedded {
            await client.shutdown()
            // The fix must reach the same server: name --embedded in it.
            error.message = error.message.replacingOccurrences(of: "`muster migrate --schema", with: "`muster migrate --embedded --schema")
            throw error
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
