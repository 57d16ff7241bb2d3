public import Foundation

/// A barrier as the `barriers` table has it.
public struct Barrier: Sendable, Hashable {
    public var id: Int64
    public var executionID: UUID
    public var name: String
    public var status: BarrierStatus
    public var onFailure: FailurePolicy
    public var expected: Int
    public var remaining: Int
    public var failed: Int
    public var callbackMessageID: Int64?
    public var deadline: Date?
    public var createdAt: Date
    public var lastCompletedAt: Date?
    public var firedAt: Date?
    /// When the callback completed; a redelivered callback skips its handler once this is set.
    public var finalizedAt: Date?

    /// True once the callback's handler has completed.
    public var isFinalized: Bool { finalizedAt != nil }
}
