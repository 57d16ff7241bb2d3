internal import MusterPostgres

/// Where Muster's database is: a `postgres://` URL or libpq conninfo string, or nothing (then
/// libpq's `PG*` environment variables apply). The password is never shown: `description`
/// is redacted.
public struct DatabaseConfiguration: Sendable, CustomStringConvertible {
    let connectionString: ConnectionString

    /// Parses `connectionString`; empty means libpq defaults and `PG*` variables.
    /// Throws `MusterError.invalidConnectionString` with libpq's reason.
    public init(_ connectionString: String) throws {
        do {
            self.connectionString = try ConnectionString(connectionString)
        } catch let error as PostgresError {
            throw MusterError(.invalidConnectionString, error.message)
        }
    }

    /// libpq defaults and the `PG*` environment variables.
    public static let environment = DatabaseConfiguration(connectionString: .environment)

    init(connectionString: ConnectionString) { self.connectionString = connectionString }

    /// The settings with any password masked.
    public var description: String { connectionString.redacted }
}
