/// Exponential backoff with full jitter: the delay before attempt `n + 1` is uniform in
/// `0 ... min(max, base · 2^(n-1))`. Full jitter spreads retries of a burst of failures
/// instead of bunching them into waves.
public struct RetryBackoff: Sendable, Hashable {
    public var base: Duration
    public var max: Duration

    public init(base: Duration = .seconds(1), max: Duration = .seconds(300)) {
        self.base = base
        self.max = max
    }

    /// How a worker waits for the database to come back: 100 ms doubling to 5 s.
    static let reconnect = RetryBackoff(base: .milliseconds(100), max: .seconds(5))

    /// The ceiling of the delay after `attempt` failed deliveries (1 = the first).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        guard attempt > 1 else { return Swift.min(base, max) }
        var ceiling = base
        for _ in 1..<Swift.min(attempt, 63) {
            ceiling *= 2
            if ceiling >= max { return max }
        }
        return Swift.min(ceiling, max)
    }

    /// A delay drawn uniformly from `0 ... ceiling(afterAttempt:)`, using `unit`, a number in
    /// `0 ..< 1` (the random draw, injectable for tests).
    public func delay(afterAttempt attempt: Int, unit: Double = Double.random(in: 0..<1)) -> Duration {
        ceiling(afterAttempt: attempt) * Swift.max(0, Swift.min(unit, 1))
    }
}
