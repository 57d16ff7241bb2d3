/// How one delivery ended, as the settler receives it.
enum DeliveryOutcome: Sendable {
    case succeeded(Completion)
    case failed(String, retryable: Bool)
    /// Handed back without using an attempt: the handler threw `Snooze`.
    case snoozed(Snooze)
    /// The heartbeat found the lease lost while the handler ran: its result is not written.
    case leaseLost
    /// The worker is stopping: handed back at once, without using an attempt.
    case interrupted
    /// The handler succeeded but the statement writing its result was refused (not for an
    /// unavailable server): the handler did its part, so this is not its failure.
    case settleRefused(String)
}

/// A delivery whose handler is done, waiting for the settler to write its outcome.
struct FinishedDelivery: Sendable {
    var message: ReceivedMessage
    var outcome: DeliveryOutcome
    /// Past this the settler stops retrying a write while the database is unavailable and
    /// leaves the lease to expire (the message is delivered again).
    var deadline: ContinuousClock.Instant
}
