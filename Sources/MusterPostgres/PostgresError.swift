/// An error from the PostgreSQL layer: a server error with its diagnostic fields, a lost
/// connection, a client-side failure (decoding, pool exhaustion).
///
/// `description` is safe to log: it names the kind, the SQLSTATE and the server's primary
/// message, never parameter values, row data or connection passwords. The server's `detail`
/// (which can quote row values, e.g. `Key (id)=(42) already exists`) appears only in
/// `String(reflecting:)`.
package struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is; decides whether a retry on a fresh connection is safe.
    package var kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    package var sqlState: String?
    /// The server's primary message, or the client-side reason.
    package var message: String
    package var detail: String?
    package var hint: String?
    package var constraint: String?
    package var schema: String?
    package var table: String?
    /// 1-based character position in the statement text the error refers to.
    package var position: Int?

    package init(
        kind: Kind,
        sqlState: String? = nil,
        message: String,
        detail: String? = nil,
        hint: String? = nil,
        constraint: String? = nil,
        schema: String? = nil,
        table: String? = nil,
        position: Int? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.position = position
    }

    /// A server error, classified by its SQLSTATE.
    package static func server(
        sqlState: String?,
        message: String,
        detail: String? = nil,
        hint: String? = nil,
        constraint: String? = nil,
        schema: String? = nil,
        table: String? = nil,
        position: Int? = nil
    ) -> PostgresError {
        PostgresError(
            kind: Kind.classify(sqlState: sqlState),
            sqlState: sqlState,
            message: message,
            detail: detail,
            hint: hint,
            constraint: constraint,
            schema: schema,
            table: table,
            position: position
        )
    }

    package var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        text += ": \(message)"
        if let constraint { text += " [constraint \(constraint)]" }
        return text
    }

    package var debugDescription: String {
        var text = description
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        if let position { text += "\nPOSITION: \(position)" }
        return text
    }
}

extension PostgresError {
    /// The classes of failure callers act on. A struct over a private enum, so adding a kind
    /// does not break exhaustive switches elsewhere.
    package struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case connectionLost = "connection lost"
            case connectFailed = "connect failed"
            case uniqueViolation = "unique violation"
            case serializationFailure = "serialization failure"
            case deadlockDetected = "deadlock detected"
            case queryCanceled = "query canceled"
            case undefinedTable = "undefined table"
            case undefinedSchema = "undefined schema"
            case undefinedFunction = "undefined function"
            case poolTimeout = "pool timeout"
            case decoding = "decoding error"
            case clientMisuse = "client misuse"
            case server = "server error"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Class 08, 57P01–57P03, or a broken socket: the statement's outcome is unknown and the
        /// connection is unusable. Idempotent writes may be retried on a fresh connection.
        package static let connectionLost = Kind(.connectionLost)
        /// The server could not be reached or refused the login.
        package static let connectFailed = Kind(.connectFailed)
        /// 23505.
        package static let uniqueViolation = Kind(.uniqueViolation)
        /// 40001: the transaction may be retried from the start.
        package static let serializationFailure = Kind(.serializationFailure)
        /// 40P01: the transaction may be retried from the start.
        package static let deadlockDetected = Kind(.deadlockDetected)
        /// 57014: statement timeout or a cancel request.
        package static let queryCanceled = Kind(.queryCanceled)
        /// 42P01.
        package static let undefinedTable = Kind(.undefinedTable)
        /// 3F000.
        package static let undefinedSchema = Kind(.undefinedSchema)
        /// 42883.
        package static let undefinedFunction = Kind(.undefinedFunction)
        /// No pooled connection became free within the acquire timeout.
        package static let poolTimeout = Kind(.poolTimeout)
        /// A value did not decode as the requested Swift type.
        package static let decoding = Kind(.decoding)
        /// The caller used the layer wrongly (a closed connection, bad arguments).
        package static let clientMisuse = Kind(.clientMisuse)
        /// Any other server error; see `sqlState`.
        package static let server = Kind(.server)

        package var description: String { base.rawValue }

        /// Classifies a SQLSTATE. Pure; the table is in PostgreSQL's Appendix A.
        package static func classify(sqlState: String?) -> Kind {
            guard let sqlState else { return .server }
            switch sqlState {
            case "57P01", "57P02", "57P03": return .connectionLost
            case _ where sqlState.hasPrefix("08"): return .connectionLost
            case "23505": return .uniqueViolation
            case "40001": return .serializationFailure
            case "40P01": return .deadlockDetected
            case "57014": return .queryCanceled
            case "42P01": return .undefinedTable
            case "3F000": return .undefinedSchema
            case "42883": return .undefinedFunction
            default: return .server
            }
        }
    }

    /// True when the statement's fate is unknown because the connection died: the one case in
    /// which an idempotent write is retried on a fresh connection.
    package var isConnectionLost: Bool { kind == .connectionLost }
}
