import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The single-statement hot paths of migration 0009 keep the guarantees of the statements
/// they replace: send_message() dedups, rejects bad input without writing, and reuses a key
/// only after its window; complete_member() records nothing for a lost lease, counts a
/// member once, fires its barrier once (and fails fast), also on a queue that archives.
@Suite struct SingleStatementPathTests {
    @Test func sendMessageReturnsTheFirstIdForAKnownKeyAndANewOneAfterTheWindow() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            func send(_ n: Int) async throws -> (id: Int64, duplicate: Bool) {
                let row = try #require(try await TestDatabase.query(
                    "SELECT id, duplicate FROM \(s).send_message('jobs', $1::jsonb, 'key-1', notify => false)", [#"{"n":\#(n)}"#]
                ).rows.first)
                return (try row.decode(0), try row.decode(1))
            }
            let first = try await send(1)
            let again = try await send(2)
            #expect(!first.duplicate)
            #expect(again.id == first.id && again.duplicate)
            #expect(try await fixture.count("messages") == 1)

            // Past the queue's dedup window the key names a new message.
            try await TestDatabase.query("UPDATE \(s).message_keys SET created_at = created_at - interval '2 days'")
            let later = try await send(3)
            #expect(later.id != first.id && !later.duplicate)
            #expect(try await fixture.count("messages") == 2)
            #expect(try await fixture.count("message_keys") == 1)
        }
    }

    @Test func sendMessageRejectsBadInputAndWritesNothing() async throws {
        var settings = QueueSettings()
        settings.maxPayloadBytes = 16
        try await QueueFixture.with(settings: settings) { fixture in
            let s = fixture.schema.quoted
            let cases: [(sql: String, code: String)] = [
                ("send_message('nope', '{}'::jsonb, 'k')", "MU001"),
                ("send_message('jobs', '{\"long\": \"more than sixteen bytes\"}'::jsonb, 'k')", "MU002"),
                ("send_message('jobs', '{}'::jsonb, 'k', delay => '-1 second')", "MU003"),
                ("send_message('jobs', '{}'::jsonb, 'k', delay => '400 days')", "MU003"),
                ("send_message('jobs', '{}'::jsonb, NULL)", "MU003"),
                ("send_message('jobs', NULL, 'k')", "MU003"),
            ]
            for (call, code) in cases {
                let error = await #expect(throws: PostgresError.self) { try await TestDatabase.query("SELECT * FROM \(s).\(call)") }
                #expect(error?.sqlState == code, "\(call)")
            }
            let written = (messages: try await fixture.count("messages"), keys: try await fixture.count("message_keys"))
            #expect(written.messages == 0 && written.keys == 0)
        }
    }

    @Test func aDelayedSendMessageWaitsItsDelay() async throws {
        try await QueueFixture.with { fixture in
            try await TestDatabase.query(
                "SELECT * FROM \(fixture.schema.quoted).send_message('jobs', '{\"n\":1}'::jsonb, 'later', delay => '1 hour')"
            )
            #expect(try await fixture.queue.read(limit: 10).isEmpty)
            try await fixture.time.endDelays(on: "jobs")
            #expect(try await fixture.queue.read(limit: 10).map(\.n) == [1])
        }
    }

    @Test func completeMemberRecordsNothingForALostLeaseAndCountsAMemberOnce() async throws {
        try await OrchestrationFixture.with { fixture in
            let (_, barrier) = try await fixture.fanOut(2)
            let leased = try await fixture.members.read(limit: 2)
            let first = try #require(leased.first)
            let key = try #require(first.headers["muster-member"])

            let stale = try await complete(fixture, first, barrier: barrier, key: key, readCount: first.readCount + 1)
            #expect(stale == Completion(applied: false, counted: false, remaining: nil, fired: false))
            #expect(try await fixture.barrier(barrier).remaining == 2)
            #expect(try await fixture.count("barrier_members", where: "status = 'pending'") == 2)

            let done = try await complete(fixture, first, barrier: barrier, key: key)
            #expect(done == Completion(applied: true, counted: true, remaining: 1, fired: false))
            let repeated = try await complete(fixture, first, barrier: barrier, key: key)
            #expect(repeated == Completion(applied: false, counted: false, remaining: nil, fired: false))
            #expect(try await fixture.barrier(barrier).remaining == 1)
        }
    }

    @Test func completeMemberFiresOnceWhenTheLastMemberCompletes() async throws {
        try await OrchestrationFixture.with { fixture in
            let (_, barrier) = try await fixture.fanOut(3)
            var fired = 0
            for member in try await fixture.members.read(limit: 3) {
                let completion = try await complete(fixture, member, barrier: barrier, key: try #require(member.headers["muster-member"]))
                #expect(completion.applied && completion.counted)
                fired += completion.fired ? 1 : 0
            }
            #expect(fired == 1)
            #expect(try await fixture.callbackMessages() == 1)
            #expect(try await fixture.barrier(barrier).status == .fired)
        }
    }

    @Test func aFailedMemberFailsAFailFastBarrierAndItsExecution() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrier) = try await fixture.fanOut(3, onFailure: .failFast)
            let member = try #require(try await fixture.members.read(limit: 1).first)
            let completion = try await complete(fixture, member, barrier: barrier, key: try #require(member.headers["muster-member"]), succeeded: false)
            #expect(completion == Completion(applied: true, counted: true, remaining: 2, fired: true))
            #expect(try await fixture.barrier(barrier).status == .failed)
            #expect(try await fixture.client.executions.get(execution)?.status == .failed)
            #expect(try await fixture.callbackMessages() == 1)
        }
    }

    @Test func aQueueThatArchivesOnAckKeepsTheCompletedMembersMessage() async throws {
        var settings = QueueSettings()
        settings.archiveOnAck = true
        try await OrchestrationFixture.with(settings: settings) { fixture in
            let (_, barrier) = try await fixture.fanOut(1)
            let member = try #require(try await fixture.members.read(limit: 1).first)
            let completion = try await complete(fixture, member, barrier: barrier, key: try #require(member.headers["muster-member"]))
            #expect(completion == Completion(applied: true, counted: true, remaining: 0, fired: true))
            #expect(try await fixture.count("archive", where: "id = \(member.id)") == 1)
        }
    }

    private struct Completion: Equatable {
        var applied: Bool, counted: Bool, remaining: Int?, fired: Bool
    }

    /// complete_member() in plain SQL, as a producer in another language would call it.
    private func complete(
        _ fixture: OrchestrationFixture, _ member: ReceivedMessage, barrier: Int64, key: String,
        readCount: Int32? = nil, succeeded: Bool = true
    ) async throws -> Completion {
        let row = try #require(try await TestDatabase.query(
            "SELECT applied, counted, remaining, fired FROM \(fixture.schema.quoted).complete_member('jobs', $1, $2, $3, $4, $5, '{}'::jsonb, 'boom')",
            [member.id, readCount ?? member.readCount, barrier, key, succeeded]
        ).rows.first)
        return Completion(applied: try row.decode(0), counted: try row.decode(1), remaining: try row.decodeIfPresent(2), fired: try row.decode(3))
    }
}
