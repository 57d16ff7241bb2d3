/// What a worker writes for each delivery's outcome: a pure decision, so the rules can be
/// tested without a database.
///
/// - A success writes its completion (ack, barrier member, callback finalization).
/// - An interrupted delivery (the worker stops) is handed back at once; a lost lease gets
///   no write at all (another delivery owns the message now).
/// - A handler that threw a retryable error before the last attempt is released with
///   exponential backoff and full jitter; at the last attempt, or for a non-retryable error,
///   the message goes to dead letters.
/// - A handler that succeeded but whose ack or completion was refused did nothing wrong: it
///   is snoozed (no attempt used) with a backoff that grows with each hand-back and is never
///   under a second. After `maxAttempts` hand-backs a refusal that lasts counts as a failure
///   (recorded, attempts used), so it ends in dead letters instead of looping forever.
struct SettlePolicy: Sendable, Hashable {
    var maxAttempts: Int
    var backoff: RetryBackoff

    enum Decision: Sendable, Hashable {
        /// Release with the error recorded, visible again after the delay.
        case retry(after: Duration)
        /// Move to dead letters with this reason (`max_attempts`, `non_retryable`).
        case deadLetter(reason: String)
        /// Hand back without using an attempt, visible again after the delay.
        case snooze(for: Duration)
    }

    /// What the settler does for one delivery.
    enum Step: Sendable {
        /// Write the success.
        case complete(Completion)
        /// Carry out a decision, recording `error` (only logged for a snooze).
        case decide(Decision, error: String)
        /// Hand the lease back at once, using no attempt.
        case handBack
        /// Write nothing: the lease is not ours any more.
        case forget
    }

    /// The step for `outcome` of a delivery on `attempt`, its message having been handed back
    /// `handedBack` times before (read count minus attempt).
    func step(for outcome: DeliveryOutcome, attempt: Int, handedBack: Int, unit: Double = Double.random(in: 0..<1)) -> Step {
        switch outcome {
        case .succeeded(let completion): .complete(completion)
        case .failed(let error, let retryable): .decide(afterFailure(attempt: attempt, retryable: retryable, unit: unit), error: error)
        case .snoozed(let snooze): .decide(.snooze(for: snooze.delay), error: snooze.reason)
        case .settleRefused(let error):
            .decide(afterRefusedSettle(attempt: attempt, handedBack: handedBack, unit: unit), error: "settling the result failed: \(error)")
        case .interrupted: .handBack
        case .leaseLost: .forget
        }
    }

    /// After the handler threw on `attempt` (1 = the first). `unit` is the jitter's random draw.
    func afterFailure(attempt: Int, retryable: Bool, unit: Double = Double.random(in: 0..<1)) -> Decision {
        guard retryable else { return .deadLetter(reason: "non_retryable") }
        guard attempt < maxAttempts else { return .deadLetter(reason: "max_attempts") }
        return .retry(after: backoff.delay(afterAttempt: attempt, unit: unit))
    }

    /// After the handler succeeded on `attempt` but its settle was refused, the message having
    /// been handed back `handedBack` times before.
    func afterRefusedSettle(attempt: Int, handedBack: Int, unit: Double = Double.random(in: 0..<1)) -> Decision {
        guard handedBack < maxAttempts else { return afterFailure(attempt: attempt, retryable: true, unit: unit) }
        return .snooze(for: Swift.max(backoff.ceiling(afterAttempt: handedBack + 1), .seconds(1)))
    }
}
