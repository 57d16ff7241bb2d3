import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 7: finished work is not re-run; claims have one holder at a time.
@Suite struct ClaimTests {
    @Test func eightContendersOneWinner() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 8)) { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            let outcomes = try await withThrowingTaskGroup(of: ClaimOutcome.self) { group in
                for _ in 0..<8 { group.addTask { try await claims.tryClaim(execution) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { outcome -> Claim? in if case .won(let claim) = outcome { return claim } else { return nil } }
            #expect(winners.count == 1)
            #expect(outcomes.filter { if case .heldByOther = $0 { return true } else { return false } }.count == 7)
        }
    }

    @Test func finishedStepIsSkippedAlsoAfterItsTombstoneIsCollected() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let claim) = try await claims.tryClaim(execution) else { Issue.record("no claim"); return }
            #expect(try await claims.finish(claim))
            #expect(try await claims.tryClaim(execution) == .finished)

            // The execution completes; the reaper collects the tombstone past retention.
            try await fixture.client.executions.transition(execution, to: .running)
            try await fixture.client.executions.transition(execution, to: .completed)
            try await fixture.time.ageTombstones(by: .seconds(3601))
            let reaper = Reaper(client: fixture.client, options: ReaperOptions(tombstoneRetention: .seconds(3600)))
            let swept = try #require(try await reaper.sweepOnce())
            #expect(swept["tombstones"] == 1)
            #expect(try await fixture.count("claims") == 0)
            #expect(try await claims.tryClaim(execution) == .finished)
        }
    }

    @Test func tombstoneOfARunningExecutionIsKept() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let claim) = try await claims.tryClaim(execution) else { Issue.record("no claim"); return }
            try await claims.finish(claim)
            try await fixture.time.ageTombstones(by: .seconds(3601))
            let reaper = Reaper(client: fixture.client, options: ReaperOptions(tombstoneRetention: .seconds(3600)))
            #expect(try await reaper.sweepOnce()?["tombstones"] == 0)
            #expect(try await claims.tryClaim(execution) == .finished)
        }
    }

    @Test func expiredClaimIsTakenOverAndTheOldHolderIsFencedOut() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let old) = try await claims.tryClaim(execution, ttl: .seconds(60)) else { Issue.record("no claim"); return }
            guard case .heldByOther = try await claims.tryClaim(execution) else { Issue.record("claim not held"); return }
            try await fixture.time.expireClaims()
            guard case .won(let new) = try await claims.tryClaim(execution) else { Issue.record("no takeover"); return }
            #expect(new.token == old.token + 1)
            #expect(try await !claims.heartbeat(old))
            #expect(try await !claims.finish(old))
            #expect(try await !claims.release(old))
            #expect(try await claims.heartbeat(new))
        }
    }

    @Test func releaseLetsARetryClaimAtOnceAndIsIdempotent() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let claim) = try await claims.tryClaim(execution, ttl: .seconds(60)) else { Issue.record("no claim"); return }
            #expect(try await claims.release(claim))
            #expect(try await !claims.release(claim))
            guard case .won = try await claims.tryClaim(execution) else { Issue.record("retry could not claim"); return }
        }
    }

    @Test func claimReleaseSurvivesTerminationOfItsConnection() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 1)) { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let claim) = try await claims.tryClaim(execution, ttl: .seconds(60)) else { Issue.record("no claim"); return }
            #expect(try await fixture.queueFixture.terminateClientConnections() == 1)
            // The pooled connection is dead; the release is retried on a fresh one.
            #expect(try await claims.release(claim))
            guard case .won = try await claims.tryClaim(execution) else { Issue.record("retry could not claim"); return }
        }
    }

    @Test func staleHolderCannotTouchAClaimRetakenAfterARelease() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            let claims = fixture.client.claims
            guard case .won(let first) = try await claims.tryClaim(execution) else { Issue.record("no claim"); return }
            // The row is gone after the release; the next claim starts a new one (token 1 again).
            try await TestDatabase.query("DELETE FROM \(fixture.schema.quoted).claims")
            guard case .won(let second) = try await claims.tryClaim(execution) else { Issue.record("no retake"); return }
            #expect(second.token == first.token)
            #expect(try await !claims.heartbeat(first))
            #expect(try await !claims.finish(first))
            #expect(try await !claims.release(first))
            #expect(try await claims.heartbeat(second))
            guard case .heldByOther = try await claims.tryClaim(execution) else { Issue.record("second claim not held"); return }
        }
    }
}
