internal import MusterPostgres

/// The PostgreSQL schema that holds Muster's tables (default `muster`).
///
/// Validated on creation: 1–63 ASCII letters, digits or `_`, not starting with a digit, so
/// it can be quoted into SQL text safely (`x; drop table y` is refused), and not one of
/// PostgreSQL's own schemas (`information_schema`, `pg_*`), which `pg_dump` leaves out.
public struct SchemaName: Hashable, Sendable, CustomStringConvertible {
    let identifier: SQLIdentifier

    /// Validates `name`. Throws `MusterError.invalidArgument` naming the rule.
    public init(_ name: String) throws {
        guard let identifier = SQLIdentifier(name) else {
            throw MusterError(
                .invalidArgument,
                "invalid schema name \(String(reflecting: String(name.prefix(80)))): use 1-63 letters, digits or _, not starting with a digit"
            )
        }
        let folded = name.lowercased()
        guard folded != "information_schema" && !folded.hasPrefix("pg_") else {
            throw MusterError(
                .invalidArgument,
                "schema name \(name) is reserved by PostgreSQL (information_schema, pg_*): its contents are left out of dumps; choose another"
            )
        }
        self.identifier = identifier
    }

    /// `muster`.
    public static let `default` = try! SchemaName("muster")

    /// The name as given.
    public var name: String { identifier.name }
    /// The name in double quotes, for SQL text.
    public var quoted: String { identifier.quoted }
    public var description: String { identifier.name }
}
