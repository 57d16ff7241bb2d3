/// A queue's settings, stored in its row in `queues`.
public struct QueueSettings: Sendable, Hashable, Codable {
    /// How long a read message stays invisible to other readers unless extended. Default 30 s.
    public var visibilityTimeout: Duration
    /// Deliveries after which a message goes to dead letters instead of being read again.
    public var maxAttempts: Int
    /// First retry delay; doubles per attempt up to `retryBackoffMax` (full jitter).
    public var retryBackoffBase: Duration
    public var retryBackoffMax: Duration
    /// How long archived messages and dead letters are kept (removed with their day's
    /// partition, at most one day later). Default 7 days.
    public var retention: Duration
    /// How long a dedup key the sender gave is remembered. Default 1 day. Keys the client
    /// generates for sends without one (for its own retry) are kept 5 minutes, or this long
    /// when shorter.
    public var dedupWindow: Duration
    /// Largest accepted payload (its JSON text), in bytes. Default 1 MiB.
    public var maxPayloadBytes: Int
    /// Ack moves messages to `archive` instead of deleting them.
    public var archiveOnAck: Bool
    /// A paused queue accepts sends but hands out nothing.
    public var paused: Bool

    public init(
        visibilityTimeout: Duration = .seconds(30),
        maxAttempts: Int = 5,
        retryBackoffBase: Duration = .seconds(1),
        retryBackoffMax: Duration = .seconds(300),
        retention: Duration = .seconds(7 * 86_400),
        dedupWindow: Duration = .seconds(86_400),
        maxPayloadBytes: Int = 1 << 20,
        archiveOnAck: Bool = false,
        paused: Bool = false
    ) {
        self.visibilityTimeout = visibilityTimeout
        self.maxAttempts = maxAttempts
        self.retryBackoffBase = retryBackoffBase
        self.retryBackoffMax = retryBackoffMax
        self.retention = retention
        self.dedupWindow = dedupWindow
        self.maxPayloadBytes = maxPayloadBytes
        self.archiveOnAck = archiveOnAck
        self.paused = paused
    }

    /// Throws `invalidArgument` for values no queue should have (checked before writing;
    /// the table's CHECK constraints back this up).
    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw MusterError(.invalidArgument, message) }
        }
        try require(visibilityTimeout >= .milliseconds(100) && visibilityTimeout <= .seconds(43_200),
                     "visibility timeout must be between 100 ms and 12 h")
        try require((1...1000).contains(maxAttempts), "max attempts must be between 1 and 1000")
        try require(retryBackoffBase >= .zero && retryBackoffBase <= retryBackoffMax, "retry backoff base must be between 0 and the max")
        try require(retryBackoffMax <= .seconds(7 * 86_400), "retry backoff max must be at most 7 days")
        try require(retention > .zero, "retention must be positive")
        try require(dedupWindow > .zero, "dedup window must be positive")
        try require((1...(64 << 20)).contains(maxPayloadBytes), "max payload bytes must be between 1 and 64 MiB")
    }
}
