/// The one error type of the Muster library.
///
/// `description` is one line that is safe to log and show: it names what failed and the
/// relevant identifiers (queue, schema, migration file, SQLSTATE), never payloads, headers,
/// row values or passwords. The server's detail text, which can quote row values, is only in
/// `debugDescription`.
public struct MusterError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong. A struct over a private enum, so new codes don't break `switch`es.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidArgument = "invalid argument"
            case invalidConnectionString = "invalid connection string"
            case connectFailed = "connect failed"
            case connectionLost = "connection lost"
            case schemaNotInstalled = "schema not installed"
            case schemaTooNew = "schema newer than this binary"
            case schemaOutdated = "schema older than this binary"
            case migrationModified = "applied migration modified"
            case migrationFailed = "migration failed"
            case invalidMigrationFile = "invalid migration file"
            case timeout = "timeout"
            case database = "database error"
            case embeddedDatabase = "embedded database"
            case unknownQueue = "unknown queue"
            case payloadTooLarge = "payload too large"
            case illegalTransition = "illegal execution transition"
            case unknownExecution = "unknown execution"
            case executionFailed = "execution failed"
            case executionStillOpen = "execution still open"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Bad input from the caller: a name, a duration, a limit. Nothing was written.
        public static let invalidArgument = Code(.invalidArgument)
        /// The connection string is not a valid URL or conninfo string.
        public static let invalidConnectionString = Code(.invalidConnectionString)
        /// The server could not be reached or refused the login.
        public static let connectFailed = Code(.connectFailed)
        /// The connection died mid-statement; the statement's outcome is unknown.
        public static let connectionLost = Code(.connectionLost)
        /// Muster's tables are missing in the schema: run `muster migrate`.
        public static let schemaNotInstalled = Code(.schemaNotInstalled)
        /// The database has migrations this binary does not know.
        public static let schemaTooNew = Code(.schemaTooNew)
        /// The database lacks migrations this binary needs.
        public static let schemaOutdated = Code(.schemaOutdated)
        /// An applied migration's file changed after it was applied.
        public static let migrationModified = Code(.migrationModified)
        /// A migration failed and was rolled back.
        public static let migrationFailed = Code(.migrationFailed)
        /// A migration file name or content is not acceptable.
        public static let invalidMigrationFile = Code(.invalidMigrationFile)
        /// An operation did not finish in time.
        public static let timeout = Code(.timeout)
        /// Any other database error; see `sqlState`.
        public static let database = Code(.database)
        /// The local embedded PostgreSQL could not be set up or controlled.
        public static let embeddedDatabase = Code(.embeddedDatabase)

        /// The queue does not exist (queues are created explicitly).
        public static let unknownQueue = Code(.unknownQueue)
        /// A payload exceeds the queue's `maxPayloadBytes`.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// An execution status change that is not allowed (e.g. out of a terminal state);
        /// nothing was changed.
        public static let illegalTransition = Code(.illegalTransition)
        /// The execution (or barrier) does not exist.
        public static let unknownExecution = Code(.unknownExecution)
        /// The execution being waited for ended failed or canceled; the message carries its error.
        public static let executionFailed = Code(.executionFailed)
        /// The execution waited for was still pending or running when the wait's timeout
        /// passed (a wait that could not reach the database names that error too).
        public static let executionStillOpen = Code(.executionStillOpen)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// One safe line saying what failed.
    public var message: String
    /// The SQLSTATE, when the server reported one.
    public var sqlState: String?
    /// The server's detail text (may quote row values: not part of `description`).
    public var detail: String?
    /// The server's hint, if any.
    public var hint: String?
    /// The constraint a server error names, if any.
    public var constraint: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil, constraint: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    static func unknownQueue(_ name: QueueName) -> MusterError {
        MusterError(.unknownQueue, "queue \(name) does not exist: create it first (muster queue create \(name))")
    }

    public var description: String {
        var text = message
        if let sqlState, !message.contains(sqlState) { text += " (SQLSTATE \(sqlState))" }
        return text
    }

    public var debugDescription: String {
        var text = "\(code): \(description)"
        if let constraint { text += "\nCONSTRAINT: \(constraint)" }
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}
