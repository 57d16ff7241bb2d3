public import Foundation

/// How a worker consumes one queue. Defaults suit short tasks; raise `concurrency` for I/O
/// bound handlers and set `timeLimit` for anything that may hang.
///
/// What the defaults trade: each read and each batched ack is one statement and one commit,
/// so the worker reads whole batches (`batchSize`) and keeps up to `prefetch` messages
/// waiting for a slot, so the next batch is read while handlers work through the last; acks
/// wait up to 5 ms for others to share their commit while handlers are still running. A busy
/// worker then pays about two commits per batch of jobs. The cost: prefetched messages are
/// held by this worker (heartbeated, handed back at once on shutdown) while other workers may
/// be idle, and when a worker dies (SIGKILL, OOM, a lost host) every lease it held comes back
/// after the visibility timeout with an attempt used, prefetched messages whose handler never
/// ran included. For handlers that take seconds and are shared by several workers, or where
/// workers crash often, set `prefetch` to 0: a free slot is then filled as soon as it frees,
/// and a crash costs an attempt only to the messages that were running.
public struct WorkerOptions: Sendable {
    /// Most handlers running at once.
    public var concurrency: Int
    /// Most messages leased by one read (and acked by one statement).
    public var batchSize: Int
    /// Messages leased beyond free capacity, waiting to start (0: lease only what can start).
    /// They are heartbeated like running ones and handed back at once on shutdown. The default,
    /// two batches, lets a full batch be read while the previous one still has a batch waiting.
    public var prefetch: Int
    /// Lease length; nil uses the queue's. Heartbeats extend held leases by it.
    public var visibilityTimeout: Duration?
    /// How often held leases are extended; nil: every third of the lease. Must be shorter than
    /// the lease. The lease minus this interval is how long the worker (or the database) may
    /// stall before a running handler's lease expires and another worker reads its message: a
    /// shorter interval tolerates longer stalls, at one extend statement per interval.
    public var heartbeatInterval: Duration?
    /// A handler running longer is cancelled and the delivery counts as failed. nil: no limit.
    public var timeLimit: Duration?
    /// Deliveries before dead-lettering; nil uses the queue's `max_attempts`.
    public var maxAttempts: Int?
    /// Delay before a retry; nil uses the queue's backoff settings.
    public var backoff: RetryBackoff?
    /// How long a graceful shutdown lets running handlers finish before cancelling them and
    /// releasing their leases.
    public var drainTimeout: Duration
    /// How often an idle worker polls when no notification wakes it (LISTEN off or down).
    public var pollInterval: Duration
    /// Called once when a message is dead-lettered (e.g. to mark its execution failed).
    public var onDeadLetter: (@Sendable (DeadLetterEvent) async -> Void)?

    public init(
        concurrency: Int = 8,
        batchSize: Int = 10,
        prefetch: Int = 20,
        visibilityTimeout: Duration? = nil,
        heartbeatInterval: Duration? = nil,
        timeLimit: Duration? = nil,
        maxAttempts: Int? = nil,
        backoff: RetryBackoff? = nil,
        drainTimeout: Duration = .seconds(30),
        pollInterval: Duration = .seconds(1),
        onDeadLetter: (@Sendable (DeadLetterEvent) async -> Void)? = nil
    ) {
        self.concurrency = concurrency
        self.batchSize = batchSize
        self.prefetch = prefetch
        self.visibilityTimeout = visibilityTimeout
        self.heartbeatInterval = heartbeatInterval
        self.timeLimit = timeLimit
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.drainTimeout = drainTimeout
        self.pollInterval = pollInterval
        self.onDeadLetter = onDeadLetter
    }

    func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw MusterError(.invalidArgument, "concurrency must be between 1 and 10000") }
        guard (1...1000).contains(batchSize) else { throw MusterError(.invalidArgument, "batch size must be between 1 and 1000") }
        guard (0...1000).contains(prefetch) else { throw MusterError(.invalidArgument, "prefetch must be between 0 and 1000") }
        if let heartbeatInterval, heartbeatInterval <= .zero { throw MusterError(.invalidArgument, "heartbeat interval must be positive") }
        if let timeLimit, timeLimit <= .zero { throw MusterError(.invalidArgument, "time limit must be positive") }
        if let maxAttempts, !(1...1000).contains(maxAttempts) { throw MusterError(.invalidArgument, "max attempts must be between 1 and 1000") }
        guard drainTimeout >= .zero, pollInterval > .zero else { throw MusterError(.invalidArgument, "drain timeout and poll interval must be positive") }
    }

    /// The time between heartbeats for leases of length `lease`: `heartbeatInterval`, or a
    /// third of the lease. Throws `invalidArgument` when it is not shorter than the lease (each
    /// heartbeat would land after the lease it extends had expired).
    func heartbeatInterval(forLease lease: Duration) throws -> Duration {
        guard let heartbeatInterval else { return lease / 3 }
        guard heartbeatInterval < lease else {
            throw MusterError(.invalidArgument, "heartbeat interval (\(heartbeatInterval)) must be shorter than the lease (\(lease))")
        }
        return heartbeatInterval
    }
}

/// A message the worker moved to dead letters, for `WorkerOptions.onDeadLetter`.
public struct DeadLetterEvent: Sendable {
    public var messageID: Int64
    public var task: String?
    public var executionID: UUID?
    /// `max_attempts` (also for a task with no handler) or `non_retryable`.
    public var reason: String
    public var error: String
    public var attempts: Int
}

/// Wrap an error in this to skip retries: the message goes straight to dead letters.
public struct NonRetryableError: Error, CustomStringConvertible {
    public var underlying: any Error
    public init(_ underlying: any Error) { self.underlying = underlying }
    public var description: String { "\(underlying)" }
}
