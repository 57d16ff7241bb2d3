import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md guarantee 6: a barrier fires exactly once, whatever the duplicates, races and crashes.
@Suite struct BarrierFanInTests {
    struct Part: Codable, Sendable { var n: Int }

    @Test func eachMemberCompletedTwiceIsCountedOnce() async throws {
        try await OrchestrationFixture.with { fixture in
            let (_, barrierID) = try await fixture.fanOut(500)
            var messages: [ReceivedMessage] = []
            while messages.count < 500 { messages += try await fixture.members.read(limit: 100) }
            let barriers = fixture.client.barriers
            // Both completions of a member race each other and those of other members; at most
            // 16 are in flight (two per pooled connection), so none waits long for a connection
            // however slow the machine is.
            let completions = try messages.flatMap { message in
                let key = try #require(message.headers["muster-member"])
                return [(message, key), (message, key)]
            }
            let outcomes = try await withThrowingTaskGroup(of: MemberCompletion.self) { group in
                var outcomes: [MemberCompletion] = []
                for (index, (message, key)) in completions.enumerated() {
                    if index >= 16, let outcome = try await group.next() { outcomes.append(outcome) }
                    group.addTask {
                        try await barriers.complete(queue: fixture.members.name, lease: message.lease, barrierID: barrierID,
                                                    memberKey: key, result: try JSONPayload(json: "1"))
                    }
                }
                return try await group.reduce(into: outcomes) { $0.append($1) }
            }
            #expect(outcomes.filter(\.counted).count == 500)
            #expect(outcomes.filter(\.fired).count == 1)
            #expect(try await fixture.barrier(barrierID).remaining == 0)
            #expect(try await fixture.callbackMessages() == 1)
        }
    }

    @Test func lastTwoMembersCompletingConcurrentlyFireOneCallbackEveryTime() async throws {
        try await OrchestrationFixture.with(options: .init(maxConnections: 4)) { fixture in
            let barriers = fixture.client.barriers
            for round in 0..<100 {
                let (_, barrierID) = try await fixture.fanOut(2)
                let messages = try await fixture.members.read(limit: 2)
                try #require(messages.count == 2)
                async let first = barriers.complete(queue: fixture.members.name, lease: messages[0].lease, barrierID: barrierID,
                                                    memberKey: messages[0].headers["muster-member"]!, result: nil)
                async let second = barriers.complete(queue: fixture.members.name, lease: messages[1].lease, barrierID: barrierID,
                                                     memberKey: messages[1].headers["muster-member"]!, result: nil)
                let fired = try await [first, second].filter(\.fired).count
                #expect(fired == 1, "round \(round)")
            }
            #expect(try await fixture.callbackMessages() == 100)
            #expect(try await fixture.count("barriers", where: "status = 'fired' AND remaining = 0") == 100)
        }
    }

    @Test func noMembersFireTheCallbackAtOnce() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(0)
            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.status == .fired && barrier.expected == 0)
            let callback = try #require(try await fixture.callbacks.read(limit: 1).first)
            #expect(callback.id == barrier.callbackMessageID)
            #expect(callback.task == "aggregate" && callback.executionID == execution)
            #expect(callback.headers["muster-barrier"] == "\(barrierID)")
        }
    }

    @Test func armingTheSameBarrierAgainSendsNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(5)
            let again = try await fixture.client.barriers.fanOut(FanOut(
                executionID: execution, name: "stage1", memberQueue: fixture.members.name, memberTask: "member",
                members: [FanOut.Member(key: "other", payload: .emptyObject)], callbackQueue: fixture.callbacks.name,
                callbackTask: "aggregate"
            ))
            #expect(again.barrierID == barrierID && !again.created)
            #expect(try await fixture.count("messages", where: "queue = 'jobs'") == 5)
        }
    }

    @Test func fanOutInARolledBackTransactionLeavesNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            do {
                try await fixture.client.withTransaction { tx -> Void in
                    let execution = try await fixture.client.executions.create(pipeline: "test", in: tx).id
                    try await fixture.client.barriers.fanOut(FanOut(
                        executionID: execution, name: "stage1", memberQueue: fixture.members.name, memberTask: "member",
                        members: [FanOut.Member(key: "a", payload: .emptyObject)], callbackQueue: fixture.callbacks.name,
                        callbackTask: "aggregate"
                    ), in: tx)
                    throw CancellationError()
                }
                Issue.record("the transaction did not throw")
            } catch is CancellationError {}
            #expect(try await fixture.count("executions") == 0)
            #expect(try await fixture.count("barriers") == 0)
            #expect(try await fixture.count("messages") == 0)
        }
    }

    @Test func badFanOutIsATypedErrorAndWritesNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            let execution = try await fixture.newExecution()
            func attempt(_ keys: [String], name: String = "stage1", queue: QueueName = "jobs", execution id: UUID? = nil) async throws {
                try await fixture.client.barriers.fanOut(FanOut(
                    executionID: id ?? execution, name: name, memberQueue: queue, memberTask: "member",
                    members: keys.map { FanOut.Member(key: $0, payload: .emptyObject) },
                    callbackQueue: fixture.callbacks.name, callbackTask: "aggregate"
                ))
            }
            let before = try await fixture.queueFixture.snapshot() + [try await fixture.count("barriers")]
            await #expect { try await attempt(["a", "a"]) } throws: { ($0 as? MusterError)?.code == .invalidArgument }
            await #expect { try await attempt(["a"], name: "x; drop table y") } throws: { ($0 as? MusterError)?.code == .invalidArgument }
            await #expect { try await attempt(["a"], queue: "nope") } throws: { ($0 as? MusterError)?.code == .unknownQueue }
            await #expect { try await attempt(["a"], execution: UUID()) } throws: { ($0 as? MusterError)?.code == .unknownExecution }
            try await fixture.client.executions.transition(execution, to: .running)
            try await fixture.client.executions.transition(execution, to: .canceled)
            await #expect { try await attempt(["a"]) } throws: { ($0 as? MusterError)?.code == .illegalTransition }
            #expect(try await fixture.queueFixture.snapshot() + [try await fixture.count("barriers")] == before)
        }
    }
}
