public import Foundation

/// A worker process as `worker_overview` shows it.
public struct WorkerInfo: Sendable, Hashable, Codable {
    /// The worker id (`messages.leased_by`).
    public var id: String
    public var host: String
    public var pid: Int
    public var queues: [String]
    public var concurrency: Int
    /// Handlers running at its last heartbeat.
    public var inFlight: Int
    /// Not stopped, and its heartbeat is recent.
    public var alive: Bool
    /// Messages it holds under unexpired leases, and ones whose lease ran out under it.
    public var leasesHeld: Int
    public var leasesExpired: Int
    /// How long its oldest unexpired lease has been held.
    public var oldestLeaseSeconds: Double?
    public var lastHeartbeatSeconds: Double
    public var startedAt: Date
    public var stoppedAt: Date?
}

/// The reaper's leader lease.
public struct ReaperLeader: Sendable, Hashable, Codable {
    public var holder: String
    public var token: Int64
    public var acquiredAt: Date
    public var renewedAt: Date
    public var expiresAt: Date
    /// False when the lease ran out: no reaper is running (or the leader died just now).
    public var active: Bool
}

/// The whole system at a glance: what `muster status` shows.
public struct SystemStatus: Sendable {
    public var queues: [QueueMetrics]
    /// Workers, live ones first (rows of processes gone for a day are swept by the reaper).
    public var workers: [WorkerInfo]
    /// Open executions (pending, running) and those created in the last 24 hours, by status.
    public var executions: [String: Int]
    /// The oldest open (pending or running) executions, at most 20.
    public var open: [Execution]
    /// Open executions that nothing worked on for 5 minutes (`stuck_executions()`).
    public var stuck: Int
    public var reaperLeader: ReaperLeader?
}

/// A member of a barrier that is not done, with where its message is.
public struct PendingMember: Sendable, Hashable, Codable {
    public var barrierID: Int64
    public var barrier: String
    public var key: String
    public var messageID: Int64?
    /// `ready`, `delayed` or `leased`; nil when the message is gone.
    public var messageState: String?
    public var readCount: Int?
    public var lastError: String?
    public var leasedBy: String?
    /// When it becomes visible (delayed) or its lease ends (leased).
    public var visibleAt: Date?
}

/// A leased message with its holder, as `in_flight` shows it.
public struct InFlightMessage: Sendable, Hashable, Codable {
    public var id: Int64
    public var queue: String
    public var task: String?
    public var readCount: Int
    public var leasedBy: String?
    public var host: String?
    public var pid: Int?
    public var heldSeconds: Double
    public var leaseExpiresAt: Date
    /// The lease ran out: the holder is probably dead and the next read takes it back.
    public var expired: Bool
}

/// One entry of `execution_timeline()`.
public struct TimelineEvent: Sendable, Hashable, Codable {
    public var at: Date
    public var event: String
    public var detail: String?
}

/// Everything about one execution: what `muster execution show` prints.
public struct ExecutionReport: Sendable {
    public var execution: Execution
    /// Why it is not finished yet (`execution_activity.reason`); nil once it is.
    public var reason: String?
    /// Its barriers (stages), oldest first.
    public var barriers: [Barrier]
    /// Members not done (at most 100).
    public var pendingMembers: [PendingMember]
    /// Its messages held by workers now (at most 100).
    public var inFlight: [InFlightMessage]
    /// Its dead letters (at most 100, newest first).
    public var deadLetters: [DeadLetter]
    public var timeline: [TimelineEvent]
}
