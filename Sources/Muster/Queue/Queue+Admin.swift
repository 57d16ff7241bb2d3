internal import MusterPostgres

/// A queue's counts at one moment.
public struct QueueMetrics: Sendable, Hashable, Codable {
    public var queue: String
    /// Visible now, waiting for a reader.
    public var ready: Int
    /// Waiting for their delay or retry backoff to pass.
    public var delayed: Int
    /// Held by a reader.
    public var leased: Int
    /// Held, but past the lease deadline: the next read takes them back.
    public var expiredLeases: Int
    public var archived: Int
    public var dead: Int
    /// Age of the oldest ready message, in seconds; nil (`null` in JSON) when none is ready.
    public var oldestReadyAgeSeconds: Double?

    private enum CodingKeys: String, CodingKey {
        case queue, ready, delayed, leased, expiredLeases, archived, dead, oldestReadyAgeSeconds
    }

    /// Every key, `oldestReadyAgeSeconds` as `null` when no message is ready.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queue, forKey: .queue)
        try container.encode(ready, forKey: .ready)
        try container.encode(delayed, forKey: .delayed)
        try container.encode(leased, forKey: .leased)
        try container.encode(expiredLeases, forKey: .expiredLeases)
        try container.encode(archived, forKey: .archived)
        try container.encode(dead, forKey: .dead)
        try container.encode(oldestReadyAgeSeconds, forKey: .oldestReadyAgeSeconds)
    }
}

extension MusterClient {
    /// Creates a queue. Returns false (and changes nothing) when it already exists.
    /// Throws `invalidArgument` for bad settings.
    @discardableResult
    public func createQueue(_ name: QueueName, settings: QueueSettings = QueueSettings()) async throws -> Bool {
        try settings.validate()
        let rows = try await run(queueSQL.createQueue, [name.rawValue] + Self.settingsParameters(settings), retry: .idempotent)
        return !rows.rows.isEmpty
    }

    /// Replaces a queue's settings. Throws `unknownQueue` when there is no such queue.
    public func updateQueue(_ name: QueueName, settings: QueueSettings) async throws {
        try settings.validate()
        let rows = try await run(queueSQL.updateQueue, [name.rawValue] + Self.settingsParameters(settings), retry: .idempotent)
        if rows.rows.isEmpty { throw MusterError.unknownQueue(name) }
    }

    /// Pauses a queue (it accepts sends and hands out nothing) or resumes it, changing no other
    /// setting. Throws `unknownQueue`.
    public func setPaused(_ paused: Bool, queue name: QueueName) async throws {
        let rows = try await run(queueSQL.setPaused, [name.rawValue, paused], retry: .idempotent)
        if rows.rows.isEmpty { throw MusterError.unknownQueue(name) }
    }

    /// A queue's settings. Throws `unknownQueue`.
    public func settings(of name: QueueName) async throws -> QueueSettings {
        let rows = try await run(queueSQL.queueSettings, [name.rawValue], retry: .idempotent)
        guard let row = rows.rows.first else { throw MusterError.unknownQueue(name) }
        return try Self.settings(from: row, offset: 0)
    }

    /// Every queue with its settings, by name.
    public func queues() async throws -> [(name: QueueName, settings: QueueSettings)] {
        try await run(queueSQL.listQueues, [], retry: .idempotent).rows.map { row in
            (try QueueName(try row.decode(0, as: String.self)), try Self.settings(from: row, offset: 1))
        }
    }

    /// Counts per queue (all queues when `queue` is nil).
    public func metrics(for queue: QueueName? = nil) async throws -> [QueueMetrics] {
        try await run(queueSQL.metrics, [queue?.rawValue], retry: .idempotent).rows.map { row in
            let ready: Int = try row.decode(1)
            // queue_metrics shows 0 for a queue with nothing ready; the API says nil.
            return QueueMetrics(
                queue: try row.decode(0), ready: ready, delayed: try row.decode(2),
                leased: try row.decode(3), expiredLeases: try row.decode(4), archived: try row.decode(5),
                dead: try row.decode(6), oldestReadyAgeSeconds: ready > 0 ? try row.decodeIfPresent(7) : nil
            )
        }
    }

    /// Deletes a queue and its dedup keys. Throws `unknownQueue`, or `invalidArgument` naming
    /// the counts while it holds anything (messages in any state, dead letters, archived
    /// messages), unless `force`, which deletes all of that with the queue. Returns what was
    /// deleted.
    @discardableResult
    public func deleteQueue(_ name: QueueName, force: Bool = false) async throws -> QueueDeletion {
        let row = try await run(queueSQL.deleteQueue, [name.rawValue, force], retry: .idempotent).single()
        return QueueDeletion(messages: try row.decode(0), deadLetters: try row.decode(1), archived: try row.decode(2))
    }

    private static func settingsParameters(_ settings: QueueSettings) -> [(any PostgresEncodable)?] {
        [
            settings.visibilityTimeout, settings.maxAttempts, settings.retryBackoffBase, settings.retryBackoffMax,
            settings.retention, settings.dedupWindow, settings.maxPayloadBytes, settings.archiveOnAck, settings.paused,
        ]
    }

    private static func settings(from row: PostgresRow, offset: Int) throws -> QueueSettings {
        func seconds(_ column: Int) throws -> Duration { .milliseconds(Int64((try row.decode(offset + column, as: Double.self) * 1000).rounded())) }
        return QueueSettings(
            visibilityTimeout: try seconds(0), maxAttempts: try row.decode(offset + 1),
            retryBackoffBase: try seconds(2), retryBackoffMax: try seconds(3),
            retention: try seconds(4), dedupWindow: try seconds(5),
            maxPayloadBytes: try row.decode(offset + 6), archiveOnAck: try row.decode(offset + 7),
            paused: try row.decode(offset + 8)
        )
    }
}

extension Queue {
    /// Deletes every message waiting in the queue (ready and delayed; leased ones are left to
    /// their holders). Throws `invalidArgument` naming the counts when some belong to open
    /// executions (pending or running), which would then wait forever, unless `force`; those
    /// executions are left as they are (cancel them to clean up). Returns what was deleted.
    @discardableResult
    public func purge(force: Bool = false) async throws -> QueuePurge {
        let row = try await client.run(sql.purgeQueue, [name.rawValue, force], retry: .idempotent).single()
        return QueuePurge(messages: try row.decode(0), ofOpenExecutions: try row.decode(1), openExecutions: try row.decode(2))
    }

    /// This queue's counts.
    public func metrics() async throws -> QueueMetrics {
        guard let metrics = try await client.metrics(for: name).first else { throw MusterError.unknownQueue(name) }
        return metrics
    }
}

/// What `Queue.purge(force:)` deleted.
public struct QueuePurge: Sendable, Hashable {
    /// Waiting messages deleted.
    public var messages: Int
    /// How many of them belonged to open executions (only with `force`).
    public var ofOpenExecutions: Int
    /// The open executions they belonged to, which now wait for messages that are gone.
    public var openExecutions: Int
}

/// What `MusterClient.deleteQueue(_:force:)` deleted with the queue.
public struct QueueDeletion: Sendable, Hashable {
    public var messages: Int
    public var deadLetters: Int
    public var archived: Int
}
