internal import MusterPostgres

/// Fenced settling of leases. Each operation takes a batch in one statement and applies only
/// to leases whose read count still matches the message's; the rest come back as `lost`.
/// All are idempotent (a repeat finds the lease already settled and reports it lost, having
/// changed nothing), so each is retried once on a fresh connection after a connection loss.
extension Queue {
    /// Deletes the messages (or archives them, when the queue has `archiveOnAck`).
    @discardableResult
    public func ack(_ leases: [Lease]) async throws -> LeaseOutcome {
        try await settle(sql.ack, leases)
    }

    /// Acks one lease; returns false when the lease was lost.
    @discardableResult
    public func ack(_ lease: Lease) async throws -> Bool {
        try await ack([lease]).allApplied
    }

    /// Moves the messages to `archive`, keeping their history.
    @discardableResult
    public func archive(_ leases: [Lease]) async throws -> LeaseOutcome {
        try await settle(sql.archive, leases)
    }

    /// Pushes the leases' deadlines to now + `visibilityTimeout` (nil: the queue's setting).
    @discardableResult
    public func extend(_ leases: [Lease], by visibilityTimeout: Duration? = nil) async throws -> LeaseOutcome {
        try Self.validate(limit: 1, visibilityTimeout: visibilityTimeout)
        return try await settle(sql.extend, leases, visibilityTimeout)
    }

    /// Gives the messages back to the queue, visible again after `delay`, recording `error`
    /// (which counts the delivery as failed). The read count is not reset: it stays the
    /// truth for attempts across crashes.
    @discardableResult
    public func release(_ leases: [Lease], delay: Duration = .zero, error: String? = nil) async throws -> LeaseOutcome {
        guard delay >= .zero && delay <= .seconds(366 * 86_400) else {
            throw MusterError(.invalidArgument, "release delay must be between 0 and 366 days")
        }
        let errors = [String?](repeating: error.map(Self.clip), count: leases.count)
        return try await settle(sql.release, leases, [Duration](repeating: delay, count: leases.count), errors)
    }

    /// Gives the messages back to the queue, visible again after `delay`, without using an
    /// attempt and without recording an error: for deliveries that should not count against
    /// `maxAttempts` because nothing went wrong with the handler (see `Snooze`). The read
    /// count still grows (it is the fencing token); `ReceivedMessage.attempt` does not.
    @discardableResult
    public func snooze(_ leases: [Lease], for delay: Duration = .zero) async throws -> LeaseOutcome {
        guard delay >= .zero && delay <= .seconds(366 * 86_400) else {
            throw MusterError(.invalidArgument, "snooze delay must be between 0 and 366 days")
        }
        return try await settle(sql.snooze, leases, [Duration](repeating: delay, count: leases.count))
    }

    /// Moves the messages to dead letters with `reason` (e.g. `non_retryable`) and `error`.
    @discardableResult
    public func deadLetter(_ leases: [Lease], reason: String, error: String? = nil) async throws -> LeaseOutcome {
        guard !reason.isEmpty && reason.utf8.count <= 100 else {
            throw MusterError(.invalidArgument, "dead-letter reason must be 1-100 bytes")
        }
        return try await settle(
            sql.deadLetter, leases,
            [String](repeating: reason, count: leases.count),
            [String?](repeating: error.map(Self.clip), count: leases.count)
        )
    }

    /// Runs a settle statement over `leases` in message id order, the order its rows are then
    /// locked in (one index lookup per id, in array order), so that a heartbeat and an ack
    /// batch sharing messages do not deadlock. Each `extra` array holds one value repeated
    /// per lease.
    private func settle(_ statement: Statement, _ leases: [Lease], _ extra: (any PostgresEncodable)?...) async throws -> LeaseOutcome {
        guard !leases.isEmpty else { return LeaseOutcome(applied: [], lost: []) }
        let leases = leases.sorted { $0.messageID < $1.messageID }
        let parameters: [(any PostgresEncodable)?] =
            [name.rawValue, leases.map(\.messageID), leases.map(\.readCount)] + extra
        let rows = try await client.run(statement, parameters, retry: .idempotent)
        return try outcome(of: rows, for: leases)
    }

    /// Errors are stored for humans; a runaway one (a whole response body) is cut at 8 KiB.
    static func clip(_ error: String) -> String {
        guard error.utf8.count > 8192 else { return error }
        return String(decoding: error.utf8.prefix(8192), as: UTF8.self) + "…"
    }
}
