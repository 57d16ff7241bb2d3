internal import CLibPQ
import Foundation
package import Logging
import Synchronization

/// One libpq connection, owned by an actor that runs on its own thread.
///
/// Every blocking libpq call happens on that thread (see `ThreadExecutor`), never on Swift's
/// cooperative pool. Cancelling the calling task sends a cancel request to the server
/// (`PQcancel`), so a running statement stops. After a connection-level failure the
/// connection is marked broken (`isBroken`) and refuses further statements; owners (the pool,
/// the listener) replace it.
package actor PostgresConnection {
    private let executor: ThreadExecutor
    private var handle: OpaquePointer?
    private var cancelHandle: CancelHandle?
    private var preparedStatements: Set<String> = []
    private let statements: StatementSending
    private let logger: Logger

    /// The server this connection talks to, as `host:port` (no credentials).
    package nonisolated let endpoint: String

    /// True once the connection failed at the connection level or was closed. Readable
    /// from anywhere without waiting for the connection's thread.
    package nonisolated var isBroken: Bool { broken.load(ordering: .acquiring) }
    private let broken = Atomic<Bool>(false)

    nonisolated package var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private init(executor: ThreadExecutor, endpoint: String, statements: StatementSending, logger: Logger) {
        self.executor = executor
        self.endpoint = endpoint
        self.statements = statements
        self.logger = logger
    }

    /// Opens a connection. Throws `connectFailed` with libpq's reason, which names the host and
    /// port but never the password. `statements` says how `execute(prepared:)` sends; a pool
    /// shares one among its connections.
    package static func connect(
        to connectionString: ConnectionString,
        applicationName: String = "muster",
        statements: StatementSending = StatementSending(unnamed: false),
        logger: Logger = Logger(label: "muster.postgres")
    ) async throws -> PostgresConnection {
        let executor = ThreadExecutor(name: "muster-pg")
        let connection = PostgresConnection(executor: executor, endpoint: connectionString.endpoint, statements: statements, logger: logger)
        try await connection.open(connectionString, applicationName: applicationName)
        return connection
    }

    private func open(_ connectionString: ConnectionString, applicationName: String) throws {
        // Defaults go first: a later keyword (the expanded connection string) overrides them.
        let keywords = ["connect_timeout", "fallback_application_name", "dbname"]
        let values = ["10", applicationName, connectionString.libpqText]
        let connection = withCStringArrays(keywords, values.map { Optional($0) }) { keywordPointers, valuePointers in
            PQconnectdbParams(keywordPointers, valuePointers, 1)
        }
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let reason = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let connection { PQfinish(connection) }
            broken.store(true, ordering: .releasing)
            executor.shutdown()
            let why = reason.trimmingTrailingNewlines()
            if ConnectionString.isRejectedSetting(why) {
                throw PostgresError(kind: .clientMisuse, message: "invalid connection string: \(why)")
            }
            throw PostgresError(kind: .connectFailed, message: "cannot connect to \(connectionString.endpoint): \(why)")
        }
        // Server NOTICEs ("relation already exists, skipping") are not errors; libpq would
        // print them to stderr.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        handle = connection
        cancelHandle = CancelHandle(PQgetCancel(connection))
    }

    isolated deinit {
        if let handle { PQfinish(handle) }
        executor.shutdown()
    }

    /// Closes the connection. Safe to call more than once.
    package func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        cancelHandle = nil
        broken.store(true, ordering: .releasing)
        executor.shutdown()
    }

    /// The server this session reached, as `host:port`: with a multi-host URL, the host libpq
    /// picked (the endpoint names the whole list).
    package var server: String {
        guard let handle else { return endpoint }
        let host = PQhost(handle).map { String(cString: $0) } ?? "?"
        let port = PQport(handle).map { String(cString: $0) } ?? "?"
        return "\(host):\(port)"
    }

    /// The server's process id for this session (`pg_backend_pid()`), for tests and logs.
    package var backendPID: Int32 {
        handle.map { PQbackendPID($0) } ?? 0
    }

    /// Runs one statement with bound parameters. A nil parameter is SQL NULL.
    package func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) async throws -> PostgresRows {
        try await run(.query(sql, parameters.map { $0?.postgresText }))
    }

    /// Runs a statement prepared once per connection under `name`. The first call prepares it;
    /// later calls only bind and execute (no parse or plan on the hot path). `name` must be
    /// unique per statement text.
    ///
    /// With unnamed statements (`StatementSending`) it runs as `query` does. When the server
    /// refuses the prepared statement (a transaction pooler between), the pool switches to
    /// unnamed statements and the statement runs again unnamed: the refusal ran nothing. Inside
    /// a transaction the refusal aborted it, so the error is thrown, with a hint naming the
    /// likely pooler.
    package func execute(
        prepared name: String,
        _ sql: String,
        _ parameters: [(any PostgresEncodable)?] = []
    ) async throws -> PostgresRows {
        let values = parameters.map { $0?.postgresText }
        if statements.usesUnnamed { return try await run(.query(sql, values)) }
        do {
            if !preparedStatements.contains(name) {
                _ = try await run(.prepare(name: name, sql: sql, parameterCount: Int32(values.count)))
                preparedStatements.insert(name)
            }
            return try await run(.prepared(name: name, values))
        } catch var error as PostgresError where error.isPreparedStatementRefused {
            preparedStatements.removeAll()
            if statements.switchToUnnamed() {
                logger.warning("the server refused a prepared statement; sending unnamed statements from now on", metadata: [
                    "endpoint": "\(endpoint)", "sqlstate": "\(error.sqlState ?? "")", "hint": "\(PostgresError.poolerHint)",
                ])
            }
            guard let handle, PQtransactionStatus(handle) == PQTRANS_IDLE else {
                error.hint = PostgresError.poolerHint
                throw error
            }
            return try await run(.query(sql, values))
        }
    }

    /// Runs a script of one or more statements without parameters (simple query protocol), as
    /// `psql` would. Returns the last statement's result.
    package func simpleQuery(_ sql: String) async throws -> PostgresRows {
        try await run(.simple(sql))
    }

    /// Runs `sql` even when the task is cancelled (used for ROLLBACK and cleanup).
    func simpleQueryIgnoringCancellation(_ sql: String) throws {
        _ = try send(.simple(sql))
    }

    /// A statement in one of libpq's forms, as plain values: it can be handed to the
    /// connection's thread from whatever executor the awaiting task runs on.
    private enum Command: Sendable {
        case query(String, [String?])
        case prepare(name: String, sql: String, parameterCount: Int32)
        case prepared(name: String, [String?])
        case simple(String)
    }

    /// Sends `command` on this connection's thread; cancelling the task cancels the statement
    /// on the server. The operation calls `self.send`: a closure is isolated to this actor only
    /// when it captures `self`. One that captured only the libpq handle was nonisolated, ran on
    /// Swift's cooperative pool, and blocked it (two statements waiting on row locks held by
    /// a transaction of the same process left that transaction no thread to commit on: the
    /// process hung).
    private func run(_ command: Command) async throws -> PostgresRows {
        guard handle != nil, !isBroken else {
            throw PostgresError(kind: .connectionLost, message: "connection to \(endpoint) is closed")
        }
        try Task.checkCancellation()
        let cancelHandle = self.cancelHandle
        do {
            return try await withTaskCancellationHandler {
                try self.send(command)
            } onCancel: {
                cancelHandle?.cancel()
            }
        } catch let error as PostgresError where error.kind == .queryCanceled && Task.isCancelled {
            throw CancellationError()
        }
    }

    /// The blocking libpq call, on this actor's own thread (checked in debug builds).
    private func send(_ command: Command) throws -> PostgresRows {
        assert(executor.isCurrent, "libpq called off the connection's thread")
        guard let handle, !isBroken else {
            throw PostgresError(kind: .connectionLost, message: "connection to \(endpoint) is closed")
        }
        let result: OpaquePointer?
        switch command {
        case .query(let sql, let values):
            result = withCStringArrays([], values) { _, pointers in
                PQexecParams(handle, sql, Int32(values.count), nil, pointers, nil, nil, 0)
            }
        case .prepare(let name, let sql, let parameterCount):
            result = PQprepare(handle, name, sql, parameterCount, nil)
        case .prepared(let name, let values):
            result = withCStringArrays([], values) { _, pointers in
                PQexecPrepared(handle, name, Int32(values.count), pointers, nil, nil, 0)
            }
        case .simple(let sql):
            result = PQexec(handle, sql)
        }
        return try consume(result, connection: handle)
    }

    /// Turns a libpq result into rows or a classified error, and frees it.
    private func consume(_ result: OpaquePointer?, connection: OpaquePointer) throws -> PostgresRows {
        defer { PQclear(result) }
        guard let result else { throw connectionError(connection) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Self.rows(from: result)
        default:
            if PQstatus(connection) == CONNECTION_BAD { throw connectionError(connection) }
            let error = Self.serverError(from: result)
            // A read-only server (25006: a standby, or a primary demoted in a failover) will
            // refuse every write on this session: drop it, so the pool's next connection
            // finds the read-write server of a multi-host URL.
            if error.isConnectionLost || error.sqlState == "25006" { broken.store(true, ordering: .releasing) }
            throw error
        }
    }

    private func connectionError(_ connection: OpaquePointer) -> PostgresError {
        broken.store(true, ordering: .releasing)
        let reason = String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines()
        logger.debug("connection lost", metadata: ["endpoint": "\(endpoint)"])
        return PostgresError(kind: .connectionLost, message: "connection to \(endpoint) lost: \(reason)")
    }

    private static func rows(from result: OpaquePointer) -> PostgresRows {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let names = ColumnNames((0..<columnCount).map { String(cString: PQfname(result, Int32($0))) })
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<Int32(columnCount) {
                values.append(PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column)))
            }
            rows.append(PostgresRow(values: values, columns: names))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: names.names, rows: rows, affectedRows: affected)
    }

    private static func serverError(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            PQresultErrorField(result, code).map { String(cString: $0) }
        }
        let message = field(muster_diag_message_primary)
            ?? String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
        return PostgresError.server(
            sqlState: field(muster_diag_sqlstate),
            message: message,
            detail: field(muster_diag_message_detail),
            hint: field(muster_diag_message_hint),
            constraint: field(muster_diag_constraint_name),
            schema: field(muster_diag_schema_name),
            table: field(muster_diag_table_name),
            position: field(muster_diag_statement_position).flatMap { Int($0) }
        )
    }
}

/// libpq's cancel object; `PQcancel` is safe to call from any thread.
private final class CancelHandle: @unchecked Sendable {
    private let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
    deinit { if let pointer { PQfreeCancel(pointer) } }

    func cancel() {
        guard let pointer else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

/// Calls `body` with NUL-terminated C string arrays for keywords and values (nil = NULL).
func withCStringArrays<R>(
    _ keywords: [String],
    _ values: [String?],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R
) -> R {
    let keywordCopies = keywords.map { strdup($0) } + [nil]
    let valueCopies = values.map { $0.flatMap { strdup($0) } } + [nil]
    defer {
        keywordCopies.forEach { free($0) }
        valueCopies.forEach { free($0) }
    }
    return keywordCopies.map { UnsafePointer($0) }.withUnsafeBufferPointer { keywordBuffer in
        valueCopies.map { UnsafePointer($0) }.withUnsafeBufferPointer { valueBuffer in
            body(keywords.isEmpty ? nil : keywordBuffer.baseAddress, valueBuffer.baseAddress)
        }
    }
}
