import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 7 through the worker: a redelivered orchestration message does not
/// re-run finished work, before or after its tombstone is collected.
@Suite struct OrchestratorTests {

    @Test func redeliveredOrchestrationOfAFinishedStepIsSkippedAlsoAfterTombstoneCollection() async throws {
        try await OrchestrationFixture.with { fixture in
            let runs = Locked(0)
            var worker = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            worker.registerOrchestrator(task: "orchestrate", as: JSONPayload.Ignored.self) { _, claim, _ in
                runs.withLock { $0 += 1 }
                #expect(claim.step == "orchestrate")
            }
            let execution = try await fixture.newExecution()
            func deliver() async throws {
                try await fixture.members.send(OutgoingMessage(payload: .emptyObject, task: "orchestrate", executionID: execution))
                try await run(worker, until: "the queue empty") { try await fixture.count("messages") == 0 }
            }
            try await deliver()
            #expect(runs.value == 1)
            #expect(try await fixture.count("claims", where: "state = 'finished'") == 1)

            try await deliver()          // redelivered while the tombstone stands
            #expect(runs.value == 1)

            try await fixture.client.executions.transition(execution, to: .running)
            try await fixture.client.executions.transition(execution, to: .completed)
            let reaper = Reaper(client: fixture.client, options: ReaperOptions(tombstoneRetention: .seconds(3600)))
            #expect(try await reaper.sweepOnce()?["tombstones"] == 0)      // within retention
            try await fixture.time.ageTombstones(by: .seconds(3601))
            #expect(try await reaper.sweepOnce()?["tombstones"] == 1)
            try await deliver()          // and after the tombstone is gone
            #expect(runs.value == 1)
        }
    }

    @Test func failedOrchestrationReleasesItsClaimSoTheRetryRuns() async throws {
        try await OrchestrationFixture.with(settings: QueueSettings(retryBackoffBase: .milliseconds(10), retryBackoffMax: .milliseconds(20))) { fixture in
            struct Flaky: Error {}
            let runs = Locked(0)
            var worker = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            worker.registerOrchestrator(task: "orchestrate", as: JSONPayload.Ignored.self) { _, _, context in
                runs.withLock { $0 += 1 }
                if context.attempt == 1 { throw Flaky() }
            }
            let execution = try await fixture.newExecution()
            try await fixture.members.send(OutgoingMessage(payload: .emptyObject, task: "orchestrate", executionID: execution))
            try await run(worker, until: "the queue empty") { try await fixture.count("messages") == 0 }
            #expect(runs.value == 2)
            #expect(try await fixture.count("claims", where: "state = 'finished' AND token = 1") == 1)
        }
    }

    @Test func aClaimTakenOverWhileItsStepRunsCancelsTheStepAndSnoozesTheMessage() async throws {
        try await OrchestrationFixture.with { fixture in
            let started = Locked(false)
            let cancelled = Locked(false)
            var worker = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            // A claim lives 3 s and is extended every second while the step runs.
            worker.registerOrchestrator(task: "orchestrate", claimTTL: .seconds(3), as: JSONPayload.Ignored.self) { _, _, _ in
                started.withLock { $0 = true }
                do {
                    try await Task.sleep(for: .seconds(600))
                } catch {
                    cancelled.withLock { $0 = true }
                    throw error
                }
            }
            let execution = try await fixture.newExecution()
            let sent = try await fixture.members.send(OutgoingMessage(payload: .emptyObject, task: "orchestrate", executionID: execution))
            let stolen = Locked(false)
            try await run(worker, until: "the step cancelled and its message snoozed after its claim was taken over") {
                if started.value && !stolen.value {
                    // The holder seems dead: its claim expires and another process takes the
                    // step. (A heartbeat landing between the two renews the claim: try again.)
                    try await fixture.time.expireClaims()
                    if case .won = try await fixture.client.claims.tryClaim(execution, step: "orchestrate", ttl: .seconds(3600)) {
                        stolen.withLock { $0 = true }
                    }
                }
                // Handed back without using an attempt, until the new holder's claim would end.
                return try await fixture.count("messages", where: "id = \(sent.id) AND state = 'delayed'") == 1
            }
            #expect(cancelled.value)
            #expect(try await fixture.count("messages", where: "id = \(sent.id) AND error_ct = 0") == 1)
        }
    }
}
