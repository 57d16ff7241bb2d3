public import Foundation

/// A message to send. Everything that identifies it (task, execution, dedup key) is a column,
/// never something to dig out of the payload.
public struct OutgoingMessage: Sendable {
    public var payload: JSONPayload
    /// String headers, stored as a JSON object.
    public var headers: [String: String]
    /// The handler to run (workers dispatch on it).
    public var task: String?
    /// The pipeline execution the message belongs to.
    public var executionID: UUID?
    /// Lower runs first; default 0.
    public var priority: Int16
    /// Deduplication key, unique per queue within its dedup window. When nil, `send`
    /// generates one, so a send retried after an ambiguous commit enqueues once.
    public var dedupKey: String?
    /// Invisible until this much time has passed.
    public var delay: Duration

    public init(
        payload: JSONPayload,
        headers: [String: String] = [:],
        task: String? = nil,
        executionID: UUID? = nil,
        priority: Int16 = 0,
        dedupKey: String? = nil,
        delay: Duration = .zero
    ) {
        self.payload = payload
        self.headers = headers
        self.task = task
        self.executionID = executionID
        self.priority = priority
        self.dedupKey = dedupKey
        self.delay = delay
    }

    /// Throws `invalidArgument` for a negative or absurd delay, an oversized or reserved
    /// (`muster:`) dedup key, or a bad task name.
    func validate() throws {
        if delay < .zero || delay > .seconds(366 * 86_400) {
            throw MusterError(.invalidArgument, "delay must be between 0 and 366 days")
        }
        if let dedupKey, dedupKey.isEmpty || dedupKey.utf8.count > 512 {
            throw MusterError(.invalidArgument, "dedup key must be 1-512 bytes")
        }
        // Barrier members and callbacks use `muster:` keys; taking one first would silently
        // swallow them as duplicates.
        if let dedupKey, dedupKey.hasPrefix("muster:") {
            throw MusterError(.invalidArgument, "dedup keys starting with muster: are reserved")
        }
        if let task, task.isEmpty || task.utf8.count > 200 {
            throw MusterError(.invalidArgument, "task name must be 1-200 bytes")
        }
    }
}

/// What `send` did with one message.
public struct SendResult: Sendable, Hashable, Codable {
    /// The message's id (the existing one when the dedup key was already known).
    public var id: Int64
    /// True when the dedup key was already known and nothing new was enqueued.
    public var duplicate: Bool

    public init(id: Int64, duplicate: Bool) {
        self.id = id
        self.duplicate = duplicate
    }
}
