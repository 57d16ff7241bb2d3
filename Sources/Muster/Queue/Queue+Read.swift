import Foundation
internal import MusterPostgres

extension Queue {
    /// Leases up to `limit` messages in one statement: ready ones in (priority, id) order,
    /// plus due delayed messages and expired leases, skipping rows other readers hold.
    /// Each comes with a new lease (its read count incremented). A message that already used
    /// up the queue's max attempts is moved to dead letters instead (reason `max_attempts`)
    /// and not returned. A paused queue returns nothing.
    ///
    /// - Parameters:
    ///   - limit: 1…1000.
    ///   - visibilityTimeout: the lease length; nil means the queue's setting.
    /// Throws `unknownQueue` or `invalidArgument`. Not retried after a connection loss (a
    /// repeat would lease more); leases issued by a lost read simply expire.
    public func read(limit: Int = 1, visibilityTimeout: Duration? = nil) async throws -> [ReceivedMessage] {
        try await read(limit: limit, visibilityTimeout: visibilityTimeout, reader: client.options.workerID)
    }

    /// `read`, recording `reader` as the leases' holder (`messages.leased_by`): a worker
    /// passes its own id, so each worker of a process shows its own leases.
    func read(limit: Int, visibilityTimeout: Duration?, reader: String) async throws -> [ReceivedMessage] {
        try await read(limit: limit, visibilityTimeout: visibilityTimeout, reader: reader, from: nil).messages
    }

    /// `read` from `start` (nil: from the front of the queue), for a reader that keeps a
    /// `ReadCursor`: returns the messages and where the next read should start.
    func read(limit: Int, visibilityTimeout: Duration?, reader: String, from start: ReadPosition?) async throws
        -> (messages: [ReceivedMessage], next: ReadPosition?) {
        try Self.validate(limit: limit, visibilityTimeout: visibilityTimeout)
        let rows = try await client.run(
            sql.readFrom,
            [name.rawValue, limit, visibilityTimeout, reader, start?.readyPriority, start?.readyID, start?.dueAfter],
            retry: .once
        )
        var messages: [ReceivedMessage] = []
        var next: ReadPosition?
        for row in rows.rows {
            next = ReadPosition(readyPriority: try row.decode(12), readyID: try row.decode(13), dueAfter: try row.decode(14))
            // With nothing leased, the one row carries only the next start.
            if try row.decodeIfPresent(0, as: Int64.self) != nil { messages.append(try Self.message(from: row)) }
        }
        return (messages, next)
    }

    /// Long poll: like `read`, but when nothing is ready waits up to `waitUpTo` for a send to
    /// this queue (LISTEN/NOTIFY; sends notify once per transaction) and reads again. When
    /// LISTEN is off (`Options.useListenNotify`) it polls every `pollInterval`; when the
    /// listener's connection is down, it polls and re-reads after the reconnect. Returns an
    /// empty array when the wait ends with nothing to read.
    public func read(
        limit: Int = 1,
        visibilityTimeout: Duration? = nil,
        waitUpTo wait: Duration,
        pollInterval: Duration = .milliseconds(250)
    ) async throws -> [ReceivedMessage] {
        guard wait >= .zero && wait <= .seconds(3600) else {
            throw MusterError(.invalidArgument, "wait must be between 0 and 1 hour")
        }
        try Self.validate(limit: limit, visibilityTimeout: visibilityTimeout)
        let deadline = ContinuousClock.now + wait
        let hub = client.notifications
        let channel = notificationChannel
        // LISTEN before the first read, so a send committed after that read wakes us.
        let listening = try await client.translatingErrors { try await hub.listen(channel) }
        while true {
            let token = hub.token(for: channel.name)
            let messages = try await read(limit: limit, visibilityTimeout: visibilityTimeout)
            let remaining = deadline - ContinuousClock.now
            if !messages.isEmpty || remaining <= .zero { return messages }
            if listening {
                _ = await hub.wait(for: channel.name, since: token, timeout: remaining)
            } else {
                try await Task.sleep(for: min(remaining, pollInterval))
            }
            try Task.checkCancellation()
        }
    }

    /// The LISTEN channel that sends to this queue notify.
    var notificationChannel: SQLIdentifier {
        QueueChannel.identifier(schema: client.schema, queue: name)
    }

    static func validate(limit: Int, visibilityTimeout: Duration?) throws {
        guard (1...1000).contains(limit) else {
            throw MusterError(.invalidArgument, "limit must be between 1 and 1000 (got \(limit))")
        }
        if let visibilityTimeout, visibilityTimeout < .milliseconds(100) || visibilityTimeout > .seconds(43_200) {
            throw MusterError(.invalidArgument, "visibility timeout must be between 100 ms and 12 h")
        }
    }

    static func message(from row: PostgresRow) throws -> ReceivedMessage {
        let headersText = try row.decodeIfPresent(3, as: String.self)
        let headers = headersText.map { JSONPayload(trusted: $0).asHeaders } ?? [:]
        return ReceivedMessage(
            id: try row.decode(0),
            readCount: try row.decode(1),
            attempt: try row.decode(11),
            payload: JSONPayload(trusted: try row.decode(2)),
            headers: headers,
            task: try row.decodeIfPresent(4),
            executionID: try row.decodeIfPresent(5),
            priority: try row.decode(6),
            enqueuedAt: try row.decode(7),
            leaseExpiresAt: try row.decode(8),
            errorCount: try row.decode(9),
            lastError: try row.decodeIfPresent(10)
        )
    }
}
