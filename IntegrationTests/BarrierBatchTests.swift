import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 6 for group-committed completions (`complete_members`, what workers
/// use): batches that mix barriers, duplicates and lost leases, racing each other, still count
/// each member once and fire each barrier once, without deadlocks.
@Suite struct BarrierBatchTests {
    /// A leased member message, completed as succeeded (barrier and key from its headers).
    static func succeeded(_ message: ReceivedMessage, result: JSONPayload = .emptyObject) throws -> Barriers.SucceededMember {
        Barriers.SucceededMember(
            lease: message.lease, barrierID: try #require(Int64(message.headers["muster-barrier"] ?? "")),
            key: try #require(message.headers["muster-member"]), result: result
        )
    }

    @Test func racingBatchesAcrossBarriersCountEachMemberOnceAndFireEachBarrierOnce() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 8)) { fixture in
            var barrierIDs: [Int64] = []
            for _ in 0..<3 { barrierIDs.append(try await fixture.fanOut(50).barrier) }
            var messages: [ReceivedMessage] = []
            while messages.count < 150 { messages += try await fixture.members.read(limit: 100) }
            let members = try messages.map { try Self.succeeded($0, result: try JSONPayload(json: "\($0.id)")) }
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
            let messages = try await fixture.members.read(limit: 3)
            try #require(messages.count == 3)
            try await fixture.time.expireLeases(on: fixture.members.name)
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

    @Test func batchedCompletionsRacingBatchedDeadLettersCountEverythingOnceWithoutFailingExecutions() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 8)) { fixture in
            var executions: [UUID] = []
            for _ in 0..<5 { executions.append(try await fixture.fanOut(200).execution) }
            var messages: [ReceivedMessage] = []
            while messages.count < 1000 { messages += try await fixture.members.read(limit: 500) }
            let (completed, dead) = (Array(messages.shuffled().prefix(600)), Array(messages.shuffled().suffix(400)))
            let byID = Set(completed.map(\.id))
            let doomed = dead.filter { !byID.contains($0.id) }
            let members = try completed.map { try Self.succeeded($0) }
            let (barriers, queue) = (fixture.client.barriers, fixture.members)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for start in stride(from: 0, to: members.count, by: 20) {
                    let batch = Array(members[start..<min(start + 20, members.count)])
                    group.addTask { try await barriers.completeSucceeded(queue: queue.name, batch) }
                }
                for start in stride(from: 0, to: doomed.count, by: 10) {
                    let leases = doomed[start..<min(start + 10, doomed.count)].map(\.lease)
                    group.addTask { try await queue.deadLetter(Array(leases), reason: "explicit", error: "gave up") }
                }
                try await group.waitForAll()
            }
            let rest = messages.filter { message in !byID.contains(message.id) && !doomed.contains { $0.id == message.id } }
            try await barriers.completeSucceeded(queue: queue.name, try rest.map { try Self.succeeded($0) })
            // wait_for_all: failures are counted, nothing fails an execution, every barrier fires once.
            #expect(try await fixture.count("barriers", where: "status = 'fired' AND remaining = 0") == 5)
            #expect(try await fixture.count("barrier_members", where: "status = 'failed'") == doomed.count)
            #expect(try await fixture.count("barrier_members", where: "status = 'succeeded'") == 1000 - doomed.count)
            #expect(try await fixture.count("barriers", where: "failed > 0") == Set(doomed.compactMap { $0.headers["muster-barrier"] }).count)
            #expect(try await fixture.count("executions", where: "status = 'failed'") == 0)
            #expect(try await fixture.callbackMessages() == 5)
        }
    }
}
