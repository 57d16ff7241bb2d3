public import Foundation

/// A lease on one message: its id and the read count of the delivery that issued it. The
/// read count is the fencing token: an ack, extension or release carrying an older count is
/// rejected, never applied to a newer holder's lease.
public struct Lease: Sendable, Hashable, Codable {
    public var messageID: Int64
    public var readCount: Int32

    public init(messageID: Int64, readCount: Int32) {
        self.messageID = messageID
        self.readCount = readCount
    }
}

/// A message handed out by `read`, with its lease.
public struct ReceivedMessage: Sendable {
    public var id: Int64
    /// Deliveries so far, this one included; with `id`, the lease's fencing token. It only
    /// grows: deliveries handed back by `Queue.snooze` count here too, but not in `attempt`.
    public var readCount: Int32
    /// This delivery's attempt: 1 for the first, the queue's `maxAttempts` for the last.
    /// Deliveries handed back by `Queue.snooze` (a step held elsewhere, a result that could
    /// not be written, a worker shut down before it started) do not count.
    /// `attempt - errorCount - 1` earlier attempts ended without recording anything (the
    /// worker died).
    public var attempt: Int
    public var payload: JSONPayload
    public var headers: [String: String]
    public var task: String?
    public var executionID: UUID?
    public var priority: Int16
    public var enqueuedAt: Date
    /// When the lease ends unless extended.
    public var leaseExpiresAt: Date
    /// Deliveries that ended in a recorded error.
    public var errorCount: Int32
    /// The error recorded by the last failed delivery.
    public var lastError: String?

    /// This delivery's lease.
    public var lease: Lease { Lease(messageID: id, readCount: readCount) }
}

/// The outcome of a fenced operation (ack, archive, extend, release, dead-letter) on a batch.
public struct LeaseOutcome: Sendable, Hashable {
    /// Leases the operation applied to.
    public var applied: [Lease]
    /// Leases that were lost: the message was re-delivered to someone else (its read count
    /// moved on) or is gone. Nothing was done to them.
    public var lost: [Lease]

    /// True when every lease was applied.
    public var allApplied: Bool { lost.isEmpty }
}
