internal import MusterPostgres

/// A database transaction of the caller's, on one connection of the client's pool. Sends made
/// with `in: transaction` commit or roll back with the caller's own writes.
public struct Transaction: Sendable {
    let connection: PostgresConnection
    let client: MusterClient

    /// Runs one statement of the caller's in this transaction and returns the affected row
    /// count. Parameters are bound (`$1`, `$2`, …), never spliced into the SQL.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) async throws -> Int {
        try await client.translatingErrors {
            try await connection.query(sql, parameters).affectedRows
        }
    }

    /// Runs one query of the caller's in this transaction and returns its rows, each value as
    /// PostgreSQL prints it (nil for NULL). Parameters are bound, never spliced into the SQL.
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await client.translatingErrors {
            try await connection.query(sql, parameters).rows.map(\.values)
        }
    }
}

extension MusterClient {
    /// Runs `body` in one transaction: commits when it returns, rolls back when it throws or
    /// the task is cancelled.
    public func withTransaction<T: Sendable>(_ body: (Transaction) async throws -> T) async throws -> T {
        try await translatingErrors {
            try await pool.withTransaction { connection in
                try await body(Transaction(connection: connection, client: self))
            }
        }
    }
}
