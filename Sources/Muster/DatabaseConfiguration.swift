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

    /// `text` with every password that any of `inputs` holds, read as a connection string
    /// (a URL's userinfo, a `password` parameter, a conninfo `password=`), replaced by
    /// `*****`: for errors that may echo what a user typed, e.g. a URL given where a queue
    /// name belongs.
    public static func hidingPasswords(of inputs: [String], in text: String) -> String {
        inputs.reduce(text) { ConnectionSecrets.redact($0, secretsOf: $1) }
    }
}
