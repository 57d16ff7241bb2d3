import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Barriers at scale (DESIGN.md guarantee 6). These load the 2-core CI machine for seconds,
/// so scripts/test.sh runs this suite after the others, not beside their timing-sensitive
/// tests.
@Suite(.serialized) struct BarrierLoadTests {
    struct Part: Codable, Sendable { var n: Int }

    @Test func eightConcurrentWorkersCompletingTenThousandMembersFireOneCallback() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 20)) { fixture in
            let (_, barrierID) = try await fixture.fanOut(10_000)
            let handled = Locked(0)
            var workers: [Worker] = []
            for _ in 0..<8 {
                var worker = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(
                    concurrency: 4, batchSize: 20, pollInterval: .milliseconds(50)
                ))
                worker.registerMember(task: "member", as: Part.self) { part, _ in
                    handled.withLock { $0 += 1 }
                    return part.n * 2
                }
                workers.append(worker)
            }
            let running = workers.map { worker in Task { try await worker.run() } }
            defer { running.forEach { $0.cancel() } }
            try await waitUntil("the barrier firing", timeout: .seconds(120)) { try await fixture.barrier(barrierID).status == .fired }
            running.forEach { $0.cancel() }
            for task in running { _ = await task.result }

            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.remaining == 0 && barrier.failed == 0)
            #expect(try await fixture.callbackMessages() == 1)
            #expect(try await fixture.count("messages", where: "queue = 'jobs'") == 0)
            let members = try await fixture.client.barriers.members(of: barrierID)
            #expect(members.count == 10_000)
            #expect(members.allSatisfy { $0.status == .succeeded })
            #expect(try members.map { try $0.decodeResult(as: Int.self) } == (0..<10_000).map { $0 * 2 })
            #expect(handled.value >= 10_000)
        }
    }

    @Test func fanOutOfAHundredThousandMembersIsOneStatement() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(100_000)
            #expect(try await fixture.count("messages", where: "queue = 'jobs' AND execution_id = '\(execution)'") == 100_000)
            #expect(try await fixture.count("barrier_members", where: "barrier_id = \(barrierID)") == 100_000)
            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.expected == 100_000 && barrier.remaining == 100_000 && barrier.status == .armed)
        }
    }
}
