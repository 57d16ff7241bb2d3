public import Foundation

/// An orchestration claim held by this process: the right to run one step (e.g.
/// `orchestrate`) of one execution. `token` fences heartbeat, finish and release: after a
/// takeover the old holder's calls change nothing.
public struct Claim: Sendable, Hashable {
    public var executionID: UUID
    public var step: String
    /// Unique per `tryClaim` call, so two tasks of one process never share a claim.
    public var holder: String
    public var token: Int64
    /// How long a heartbeat extends it.
    public var ttl: Duration
    public var expiresAt: Date
}

/// The three possible answers of `Claims.tryClaim`.
public enum ClaimOutcome: Sendable, Hashable {
    /// The caller holds the claim; heartbeat it while working, then finish or release it.
    case won(Claim)
    /// Someone else holds an unexpired claim: try again after `expiresAt`.
    case heldByOther(holder: String, expiresAt: Date)
    /// The step already finished (a tombstone) or the execution is terminal: skip the work.
    case finished
}
