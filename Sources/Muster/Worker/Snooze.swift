/// Thrown by a handler to hand its message back for `delay` without using an attempt:
/// nothing went wrong with the message, it is just not its time (a rate limit, a resource
/// another process holds, a dependency not ready yet).
///
/// The worker snoozes the lease (`Queue.snooze`): the message becomes visible again after
/// `delay`, no error is recorded, and the next delivery has the same `attempt` number as this
/// one, so a message may snooze any number of times without reaching the queue's
/// `maxAttempts`. The worker itself hands messages back this way when the orchestration step
/// a message runs is held by another live holder, when a successful handler's result could
/// not be written, and when it shuts down before a prefetched message started.
public struct Snooze: Error, Sendable, CustomStringConvertible {
    /// How long the message stays invisible; clamped to 0 ... 366 days.
    public var delay: Duration
    /// Why, for the worker's log line.
    public var reason: String

    public init(for delay: Duration, reason: String = "snoozed by its handler") {
        self.delay = min(max(delay, .zero), .seconds(366 * 86_400))
        self.reason = reason
    }

    public var description: String { "\(reason); back in \(delay)" }
}
