internal import MusterPostgres

extension MusterError {
    /// Translates a PostgreSQL-layer error at the library boundary. A missing table, schema
    /// or function of Muster's own becomes `schemaNotInstalled` with the command that fixes it.
    init(_ error: PostgresError, schema: SchemaName) {
        // Muster's own SQLSTATEs (class MU), raised by the schema's functions; the message
        // is written there to be shown as is.
        switch error.sqlState {
        case "MU001": self.init(.unknownQueue, error.message, sqlState: error.sqlState); return
        case "MU002": self.init(.payloadTooLarge, error.message, sqlState: error.sqlState); return
        case "MU003": self.init(.invalidArgument, error.message, sqlState: error.sqlState); return
        case "MU004": self.init(.illegalTransition, error.message, sqlState: error.sqlState); return
        case "MU005": self.init(.unknownExecution, error.message, sqlState: error.sqlState); return
        default: break
        }
        // Class 22, data exceptions: the server refused a value it was given (a payload with
        // \u0000 or a byte-order mark, an interval out of range): bad input, not a failure.
        if let state = error.sqlState, state.hasPrefix("22") {
            self.init(.invalidArgument, error.message, sqlState: state, detail: error.detail, hint: error.hint)
            return
        }
        switch error.kind {
        case .undefinedTable, .undefinedSchema, .undefinedFunction:
            self.init(
                .schemaNotInstalled,
                "schema \(schema) is not installed or incomplete: run `muster migrate --schema \(schema)` (\(error.message))",
                sqlState: error.sqlState
            )
        case .connectionLost:
            self.init(.connectionLost, error.message, sqlState: error.sqlState)
        case .connectFailed:
            self.init(.connectFailed, error.message)
        case .poolTimeout:
            self.init(.timeout, error.message)
        case .clientMisuse where error.message.hasPrefix("invalid connection string"):
            self.init(.invalidConnectionString, error.message)
        default:
            self.init(
                .database, error.message, sqlState: error.sqlState,
                detail: error.detail, hint: error.hint, constraint: error.constraint
            )
        }
    }

    /// Runs `body`, translating PostgreSQL-layer errors into `MusterError`.
    nonisolated(nonsending) static func translating<T>(
        schema: SchemaName,
        _ body: () async throws -> T
    ) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError {
            throw MusterError(error, schema: schema)
        }
    }
}
