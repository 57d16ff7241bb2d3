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

    static func configuration() throws -> DatabaseConfiguration { try DatabaseConfiguration(url()) }

    static func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(to: connectionString())
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
