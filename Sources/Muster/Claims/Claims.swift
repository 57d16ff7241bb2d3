public import Foundation
internal import MusterPostgres

/// Orchestration claims: one holder at a time runs a step of an execution; finishing leaves a
/// tombstone so a redelivered orchestration message does not run finished work again (and
/// after the tombstone is collected, the execution's terminal status does the same).
///
/// Every write is fenced by the claim's token and safe to repeat, so each is retried once
/// after a lost connection; a release lost to a reaped connection cannot leave the claim
/// stuck (it also expires on its own).
public struct Claims: Sendable {
    let client: MusterClient
    private var sql: OrchestrationSQL { client.orchestrationSQL }

    /// Tries to take the claim on `step` of `execution` for `ttl`. An expired claim (its
    /// holder died) is taken over with a new token. Throws `invalidArgument` for a bad step
    /// name or ttl (100 ms – 1 day).
    public func tryClaim(_ execution: UUID, step: String = "orchestrate", ttl: Duration = .seconds(30)) async throws -> ClaimOutcome {
        let holder = "\(client.options.workerID)/\(UUID().uuidString.prefix(8).lowercased())"
        // A repeat after an ambiguous commit finds the claim held by this same holder and wins
        // again with the same token (try_claim is re-entrant per holder).
        let row = try await client.run(sql.tryClaim, [execution, step, holder, ttl], retry: .idempotent).single()
        switch try row.decode(0, as: String.self) {
        case "won":
            return .won(Claim(
                executionID: execution, step: step, holder: holder, token: try row.decode(1),
                ttl: ttl, expiresAt: try row.decode(3)
            ))
        case "held_by_other":
            return .heldByOther(holder: try row.decode(2), expiresAt: try row.decode(3))
        default:
            return .finished
        }
    }

    /// Extends the claim by its ttl; false when it was lost (taken over after expiring).
    public func heartbeat(_ claim: Claim) async throws -> Bool {
        try await client.run(sql.heartbeatClaim, [claim.executionID, claim.step, claim.holder, claim.token, claim.ttl], retry: .idempotent)
            .single().decode(0)
    }

    /// Turns the claim into a tombstone: later `tryClaim`s answer `finished`. With
    /// `transaction`, the tombstone commits with the caller's work (e.g. the fan-out).
    /// Returns false when the claim was lost.
    @discardableResult
    public func finish(_ claim: Claim, in transaction: Transaction? = nil) async throws -> Bool {
        try await client.run(sql.finishClaim, [claim.executionID, claim.step, claim.holder, claim.token], in: transaction, retry: .idempotent)
            .single().decode(0)
    }

    /// Gives the claim up so a retry can take it at once. Idempotent: false when there was
    /// nothing of this holder's left to release.
    @discardableResult
    public func release(_ claim: Claim) async throws -> Bool {
        try await client.run(sql.releaseClaim, [claim.executionID, claim.step, claim.holder, claim.token], retry: .idempotent)
            .single().decode(0)
    }
}

extension MusterClient {
    /// The orchestration claims of this client's schema.
    public var claims: Claims { Claims(client: self) }
}
