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
