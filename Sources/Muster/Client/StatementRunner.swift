import Logging
internal import MusterPostgres

/// A named, schema-qualified SQL statement, prepared once per connection.
struct Statement: Sendable {
    /// The prepared-statement name, `muster_<label>_<hash>`: unique per statement text (the
    /// hash, 64-bit FNV-1a, is of the SQL, which names the schema), so two Muster versions,
    /// or two schemas, sharing server sessions through a pooler never run each other's text
    /// under one name; and at most 63 bytes, PostgreSQL's identifier limit, whatever the
    /// schema's length.
    let name: String
    let sql: String

    /// - Parameter label: what the statement is, e.g. `queue_ack` (shown in
    ///   `pg_prepared_statements`).
    init(_ label: String, sql: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        self.name = "muster_\(label.prefix(38))_\(String(repeating: "0", count: 16 - hex.count))\(hex)"
        self.sql = sql
    }
}

/// Whether a statement may be repeated after a lost connection.
struct RetryPolicy: Sendable {
    fileprivate let retriesOnConnectionLoss: Bool
    /// Repeated only this soon after the first attempt started; nil: whenever.
    fileprivate var horizon: Duration?
    /// Safe to repeat: fenced acks and extensions, idempotent updates.
    static let idempotent = RetryPolicy(retriesOnConnectionLoss: true)
    /// Not safe to repeat (a read would lease more messages).
    static let once = RetryPolicy(retriesOnConnectionLoss: false)
    /// Safe to repeat while the dedup ledger still holds the send's generated keys
    /// (`DedupKeyGenerator.retryHorizon`); later the outcome stays unknown (`connectionLost`).
    static let dedupKeyed = RetryPolicy(retriesOnConnectionLoss: true, horizon: DedupKeyGenerator.retryHorizon)

    /// Whether a statement whose connection was lost `elapsed` after its first attempt
    /// started may run again.
    func repeatsAfterConnectionLoss(elapsed: Duration) -> Bool {
        retriesOnConnectionLoss && horizon.map { elapsed <= $0 } ?? true
    }
}

extension MusterClient {
    /// Runs `statement` on a pooled connection: the one path every Muster statement takes.
    ///
    /// Errors are translated into `MusterError`. With `.idempotent`, a statement whose
    /// connection died (the outcome unknown) runs once more on a fresh connection; the pool
    /// has already discarded the dead one.
    func run(
        _ statement: Statement,
        _ parameters: [(any PostgresEncodable)?],
        retry: RetryPolicy
    ) async throws -> PostgresRows {
        try await withRetry(retry) {
            try await pool.withConnection { connection in
                try await connection.execute(prepared: statement.name, statement.sql, parameters)
            }
        }
    }

    /// Runs `statement` on a caller's transaction connection (no retry: the transaction is
    /// gone with its connection, and the caller decides).
    func run(
        _ statement: Statement,
        _ parameters: [(any PostgresEncodable)?],
        on connection: PostgresConnection
    ) async throws -> PostgresRows {
        try await translatingErrors {
            try await connection.execute(prepared: statement.name, statement.sql, parameters)
        }
    }

    /// Runs `statement` in the caller's transaction when there is one (no retry), else on a
    /// pooled connection with `retry`.
    func run(
        _ statement: Statement,
        _ parameters: [(any PostgresEncodable)?],
        in transaction: Transaction?,
        retry: RetryPolicy
    ) async throws -> PostgresRows {
        if let transaction { return try await run(statement, parameters, on: transaction.connection) }
        return try await run(statement, parameters, retry: retry)
    }

    /// The one retry helper: runs `operation`, and once more when it failed because its
    /// connection was lost and the policy allows a repeat, or because the server rolled it
    /// back for a deadlock or a serialization failure (then nothing happened, so any
    /// operation, even a read, may run again).
    func withRetry<T>(_ policy: RetryPolicy, _ operation: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        do {
            return try await translatingErrors(operation)
        } catch let error as MusterError where error.isRolledBackConflict {
            logger.info("deadlock or serialization failure; running the statement once more", metadata: ["error": "\(error)"])
            return try await translatingErrors(operation)
        } catch let error as MusterError
                    where error.code == .connectionLost && policy.repeatsAfterConnectionLoss(elapsed: .now - started) {
            logger.info("connection lost; retrying an idempotent statement once", metadata: ["error": "\(error)"])
            return try await translatingErrors(operation)
        }
    }

    /// Translates PostgreSQL-layer errors, including Muster's own SQLSTATEs raised by the
    /// schema's functions, into `MusterError`.
    func translatingErrors<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as PostgresError {
            throw MusterError(error, schema: schema)
        }
    }
}

extension MusterClient {
    /// Runs `operation` until it gets through to the server: while the server is unreachable,
    /// starting up, shutting down or read-only (a standby before its promotion), it waits
    /// with backoff (100 ms doubling to 5 s) and tries again, logging each wait. Any other
    /// error, such as a missing schema or an unknown queue, is thrown at once. Cancellation
    /// ends the wait.
    ///
    /// For a service's start (`Worker.run`, `Reaper.run`): a worker started while the
    /// database restarts waits for it, as a running worker rides out the same outage. With a
    /// `deadline` (a worker settling a result: its lease outlives a short outage), the last
    /// error is thrown once the deadline has passed; `level` is the waits' log level.
    func waitingForServer<T>(
        _ what: String,
        until deadline: ContinuousClock.Instant? = nil,
        logLevel level: Logger.Level = .warning,
        _ operation: () async throws -> T
    ) async throws -> T {
        let backoff = RetryBackoff.reconnect
        var failures = 0
        while true {
            do {
                return try await translatingErrors(operation)
            } catch let error as MusterError where error.isServerUnavailable && !isPast(deadline) {
                failures += 1
                let pause = backoff.ceiling(afterAttempt: failures)
                logger.log(level: level, "\(what): the database is unavailable; trying again", metadata: [
                    "error": "\(error)", "retry_in": "\(pause)", "failures": "\(failures)",
                ])
                try await Task.sleep(for: pause)
            }
        }
    }
}

/// Whether `deadline` (nil: none) has passed.
private func isPast(_ deadline: ContinuousClock.Instant?) -> Bool {
    deadline.map { ContinuousClock.now >= $0 } ?? false
}

extension MusterError {
    /// A deadlock (40P01) or serialization failure (40001): the server rolled the whole
    /// transaction back, so it had no effect.
    var isRolledBackConflict: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// True when the server could not do the work now but may soon, so trying again later is
    /// the answer: unreachable, a connection lost, no pooled connection in time, the server
    /// starting up, shutting down or in recovery (57P01-57P03), too many connections (53300),
    /// or read-only (25006: a standby, e.g. mid-failover). A login the server refused (bad
    /// password, unknown role or database, no pg_hba.conf entry) will not get better by
    /// waiting and is not included.
    public var isServerUnavailable: Bool {
        switch code {
        case .connectionLost, .timeout:
            return true
        case .connectFailed:
            // Only failures known to pass: anything else (a refused login, a bad certificate,
            // a mistyped host, a message in another language) is reported at once.
            let passing = [
                "Connection refused", "timed out", "timeout expired", "starting up", "shutting down", "recovery mode",
                "not yet accepting connections", "too many clients", "closed the connection unexpectedly",
                "Temporary failure in name resolution", "No route to host", "Network is unreachable", "terminating connection",
            ]
            return passing.contains { message.contains($0) }
        default:
            return ["57P01", "57P02", "57P03", "53300", "25006"].contains(sqlState ?? "")
        }
    }
}
