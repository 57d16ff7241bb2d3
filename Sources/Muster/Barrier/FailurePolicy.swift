/// What a barrier does when a member fails (its handler gave up, or its message was
/// dead-lettered).
public struct FailurePolicy: Hashable, Sendable, CustomStringConvertible {
    /// The text stored in `barriers.on_failure`.
    public let rawValue: String
    private init(_ rawValue: String) { self.rawValue = rawValue }

    /// Failed members are recorded and counted like the others; the callback runs once all
    /// members are done and sees the failures.
    public static let waitForAll = FailurePolicy("wait_for_all")
    /// The first failed member fails the execution and enqueues the callback at once (barrier
    /// status `failed`); later completions are recorded but fire nothing.
    public static let failFast = FailurePolicy("fail_fast")

    public var description: String { rawValue }
}
