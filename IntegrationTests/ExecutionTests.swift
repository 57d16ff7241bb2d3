import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Executions: one place validates status transitions; creation is idempotent by key.
@Suite struct ExecutionTests {
    @Test func illegalTransitionIsATypedErrorAndChangesNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            let executions = fixture.client.executions
            let id = try await fixture.newExecution()
            await #expect { try await executions.transition(id, to: .completed) } throws: { ($0 as? MusterError)?.code == .illegalTransition }
            try await executions.transition(id, to: .running, stage: "split")
            let done = try await executions.transition(id, to: .completed, output: try JSONPayload(json: #"{"ok":true}"#))
            #expect(done.status == .completed && done.finishedAt != nil && done.stage == "split")
            for status in [ExecutionStatus.running, .failed, .canceled, .pending] {
                await #expect { try await executions.transition(id, to: status, error: "late") } throws: {
                    ($0 as? MusterError)?.code == .illegalTransition
                }
            }
            let after = try #require(try await executions.get(id))
            #expect(after.status == .completed && after.error == nil && after.updatedAt == done.updatedAt)
            // The guard is in the schema: psql cannot bypass it either.
            await #expect(throws: PostgresError.self) {
                try await TestDatabase.query("UPDATE \(fixture.schema.quoted).executions SET status = 'running' WHERE id = $1", [id])
            }
            await #expect { try await executions.transition(UUID(), to: .running) } throws: { ($0 as? MusterError)?.code == .unknownExecution }
        }
    }

    /// Cancel, a transition to canceled or failed, and fail_execution called from SQL all end
    /// an execution the same way: its armed barrier is canceled and its member messages are
    /// gone, so nothing runs for an execution that has ended.
    @Test func everyWayToEndAnExecutionEarlyCleansUpTheSame() async throws {
        try await OrchestrationFixture.with { fixture in
            let executions = fixture.client.executions
            let s = fixture.schema.quoted
            let ways: [(String, ExecutionStatus, (UUID) async throws -> Void)] = [
                ("cancel", .canceled, { _ = try await executions.cancel($0, reason: "ended") }),
                ("transition to canceled", .canceled, { try await executions.transition($0, to: .canceled, error: "ended") }),
                ("transition to failed", .failed, { try await executions.transition($0, to: .failed, error: "ended") }),
                ("fail_execution from SQL", .failed, { id in
                    let ended = try await TestDatabase.query("SELECT \(s).fail_execution($1, 'ended')", [id]).single().decode(0, as: Bool.self)
                    #expect(ended)
                }),
            ]
            for (way, status, end) in ways {
                let (execution, barrier) = try await fixture.fanOut(5)
                #expect(try await fixture.count("messages", where: "execution_id = '\(execution)'") == 5)
                try await end(execution)
                let ended = try #require(try await executions.get(execution))
                #expect(ended.status == status && ended.error == "ended", "\(way)")
                #expect(try await fixture.count("barriers", where: "id = \(barrier) AND status = 'canceled'") == 1, "\(way)")
                #expect(try await fixture.count("messages", where: "execution_id = '\(execution)'") == 0, "\(way)")
            }
            // Ending an ended execution changes nothing: false from SQL, illegal from Swift.
            let (done, _) = try await fixture.fanOut(1)
            try await executions.transition(done, to: .failed, error: "first")
            let again = try await TestDatabase.query("SELECT \(s).fail_execution($1, 'second')", [done]).single().decode(0, as: Bool.self)
            #expect(!again)
            await #expect { try await executions.transition(done, to: .canceled) } throws: { ($0 as? MusterError)?.code == .illegalTransition }
            #expect(try await executions.get(done)?.error == "first")
            let unknown = try await TestDatabase.query("SELECT \(s).fail_execution($1, 'x')", [UUID()]).single().decode(0, as: Bool.self)
            #expect(!unknown)
        }
    }

    @Test func concurrentCreatesWithOneKeyMakeOneExecution() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 8)) { fixture in
            let executions = fixture.client.executions
            let results = try await withThrowingTaskGroup(of: Executions.Created.self) { group in
                for _ in 0..<8 { group.addTask { try await executions.create(pipeline: "report", idempotencyKey: "order-42") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(results.map(\.id)).count == 1)
            #expect(results.filter(\.created).count == 1)
            #expect(try await fixture.count("executions") == 1)
            // Another pipeline may use the same key.
            #expect(try await executions.create(pipeline: "invoice", idempotencyKey: "order-42").created)
        }
    }

    @Test func badPipelineNameIsRefused() async throws {
        try await OrchestrationFixture.with { fixture in
            let executions = fixture.client.executions
            await #expect { try await executions.create(pipeline: "x'; drop table y; --") } throws: {
                ($0 as? MusterError)?.code == .invalidArgument
            }
            let count = try await fixture.count("executions")
            #expect(count == 0)
        }
    }
}
