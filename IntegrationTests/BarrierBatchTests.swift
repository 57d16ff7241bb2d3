import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 6 for group-committed completions (`complete_members`, what workers
/// use): batches that mix barriers, duplicates and lost leases, racing each other, still count
/// each member once and fire each barrier once, without deadlocks.
@Suite struct BarrierBatchTests {
    @Test func racingBatchesAcrossBarriersCountEachMemberOnceAndFireEachBarrierOnce() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 8)) { fixture in
            var barrierIDs: [Int64] = []
            for _ in 0..<3 { barrierIDs.append(try await fixture.fanOut(50).barrier) }
            var messages: [ReceivedMessage] = []
            while messages.count < 150 { messages += try await fixture.members.read(limit: 100) }
            let members = try messages.map { message in
                Barriers.SucceededMember(
                    lease: message.lease, barrierID: try #require(Int64(message.headers["muster-barrier"] ?? "")),
                    key: try #require(message.headers["muster-member"]), result: try JSONPayload(json: "\(message.id)")
                )
            }
            // Every member twice, shuffled into 15 batches of 20 that run at once.
            let shuffled = (members + members).shuffled()
            let batches = stride(from: 0, to: 300, by: 20).map { Array(shuffled[$0..<$0 + 20]) }
            let barriers = fixture.client.barriers
            let queue = fixture.members.name
            let outcomes = try await withThrowingTaskGroup(of: [MemberCompletion].self) { group in
                for batch in batches { group.addTask { try await barriers.completeSucceeded(queue: queue, batch) } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(outcomes.count == 300)
            #expect(outcomes.filter(\.counted).count == 150)
            #expect(outcomes.filter(\.fired).count == 3)
            #expect(Set(outcomes.compactMap(\.callbackMessageID)).count == 3)
            for id in barrierIDs {
                let barrier = try await fixture.barrier(id)
                #expect(barrier.status == .fired && barrier.remaining == 0 && barrier.failed == 0)
            }
            #expect(try await fixture.callbackMessages() == 3)
            #expect(try await fixture.count("barrier_members", where: "status = 'succeeded' AND result = to_jsonb(message_id)") == 150)
            #expect(try await fixture.count("messages", where: "queue = 'jobs'") == 0)
        }
    }

    @Test func aLostLeaseInABatchRecordsNothingForThatMemberAndTheRestCount() async throws {
        try await OrchestrationFixture.with { fixture in
            let (_, barrierID) = try await fixture.fanOut(3)
            let messages = try await fixture.members.read(limit: 3, visibilityTimeout: .milliseconds(100))
            try #require(messages.count == 3)
            try await Task.sleep(for: .milliseconds(200))
            let retaken = try #require(try await fixture.members.read(limit: 1).first)    // read count 2 now
            let stale = try #require(messages.first { $0.id == retaken.id })
            let fresh = messages.filter { $0.id != retaken.id }
            let batch = try (fresh + [stale]).map { message in
                Barriers.SucceededMember(lease: message.lease, barrierID: barrierID, key: try #require(message.headers["muster-member"]), result: .emptyObject)
            }
            // The two others' leases expired too but were not re-read: their fenced ack still applies.
            let outcomes = try await fixture.client.barriers.completeSucceeded(queue: fixture.members.name, batch)
            #expect(outcomes.map(\.applied) == [true, true, false])
            #expect(outcomes.map(\.counted) == [true, true, false])
            #expect(outcomes.allSatisfy { !$0.fired })
            #expect(try await fixture.barrier(barrierID).remaining == 1)

            let last = try await fixture.client.barriers.completeSucceeded(queue: fixture.members.name, [
                .init(lease: retaken.lease, barrierID: barrierID, key: try #require(retaken.headers["muster-member"]), result: .emptyObject),
            ])
            #expect(last.first?.fired == true && last.first?.remaining == 0)
            #expect(try await fixture.callbackMessages() == 1)
        }
    }
}
