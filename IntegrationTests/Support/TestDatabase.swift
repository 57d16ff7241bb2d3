import Foundation
import Muster
@testable import MusterPostgres

/// The throwaway server started by scripts/test.sh. Tests fail (never skip) without it.
enum TestDatabase {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String { "MUSTER_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh" }
    }

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["MUSTER_TEST_DATABASE_URL"], !url.isEmpty else {
            throw NotConfigured()
        }
        return url
    }

    static func connectionString() throws -> ConnectionString { try ConnectionString(url()) }

    /// PgBouncer in transaction mode in front of the server (scripts/with-pgbouncer.sh).
    static func pgbouncerURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["MUSTER_TEST_PGBOUNCER_URL"], !url.isEmpty else {
            throw NotConfigured()
        }
        return url
    }

    static func configuration() throws -> DatabaseConfiguration { try DatabaseConfiguration(url()) }

    /// `options` for a client of the server under test. In scripts/test.sh's pooler phases
    /// MUSTER_TEST_DATABASE_URL goes through PgBouncer, and MUSTER_STATEMENTS and
    /// MUSTER_LISTEN_URL say how to send statements and where to LISTEN, as they do for the
    /// `muster` processes the tests start.
    static func options(_ options: MusterClient.Options = .init()) throws -> MusterClient.Options {
        let environment = ProcessInfo.processInfo.environment
        var options = options
        if let mode = environment["MUSTER_STATEMENTS"].flatMap(StatementMode.init(rawValue:)) { options.statementMode = mode }
        if let listen = environment["MUSTER_LISTEN_URL"], !listen.isEmpty { options.listenDatabase = try DatabaseConfiguration(listen) }
        return options
    }

    /// A client of the server under test (see `options`).
    static func client(schema: SchemaName = .default, options: MusterClient.Options = .init()) throws -> MusterClient {
        MusterClient(database: try configuration(), schema: schema, options: try Self.options(options))
    }

    /// A connection for the test's own statements (counts, time travel, terminations). In the
    /// pooler phases (MUSTER_TEST_DIRECT_URL set) it goes to the server itself while the code
    /// under test goes through PgBouncer: a backend a test terminates behind the pooler may be
    /// handed to any client next, and the test's own reads must not be that client.
    static func connect() async throws -> PostgresConnection {
        let direct = ProcessInfo.processInfo.environment["MUSTER_TEST_DIRECT_URL"].flatMap { $0.isEmpty ? nil : $0 }
        return try await PostgresConnection.connect(to: try direct.map(ConnectionString.init) ?? connectionString())
    }

    /// Runs `body` with a uniquely named schema and drops it afterwards, so tests can run in
    /// parallel and leave nothing behind. `create: false` leaves creating it to the test (the
    /// migrator does that itself).
    static func withSchema<T>(create: Bool = false, _ body: (SchemaName) async throws -> T) async throws -> T {
        let schema = try SchemaName("t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        if create { try await query("CREATE SCHEMA \(schema.quoted)") }
        do {
            let value = try await body(schema)
            try await drop(schema)
            return value
        } catch {
            try? await drop(schema)
            throw error
        }
    }

    /// Runs one statement on a short-lived connection.
    @discardableResult
    static func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) async throws -> PostgresRows {
        let connection = try await connect()
        defer { Task { await connection.close() } }
        return try await connection.query(sql, parameters)
    }

    private static func drop(_ schema: SchemaName) async throws {
        try await query("DROP SCHEMA IF EXISTS \(schema.quoted) CASCADE")
    }
}
