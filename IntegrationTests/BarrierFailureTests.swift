import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Failure policies, crashes in the middle of a completion, and the finalize-once guard for
/// callbacks (DESIGN.md guarantees 4, 6 and 7).
@Suite struct BarrierFailureTests {
    struct Part: Codable, Sendable { var n: Int }
    struct Refused: Error, CustomStringConvertible { var n: Int; var description: String { "part \(n) refused" } }

    @Test func failFastFailsTheExecutionAndFiresOnceWithTheFailure() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(3, onFailure: .failFast)
            let messages = try await fixture.members.read(limit: 3)
            let barriers = fixture.client.barriers
            let first = try await barriers.complete(queue: fixture.members.name, lease: messages[0].lease, barrierID: barrierID,
                                                    memberKey: "m00000", result: nil, error: "disk full", succeeded: false)
            #expect(first.fired)
            for message in messages.dropFirst() {
                let later = try await barriers.complete(queue: fixture.members.name, lease: message.lease, barrierID: barrierID,
                                                        memberKey: message.headers["muster-member"]!, result: try JSONPayload(json: "1"))
                #expect(later.applied && !later.fired)
            }
            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.status == .failed && barrier.failed == 1)
            #expect(try await fixture.callbackMessages() == 1)
            let failed = try #require(try await fixture.client.executions.get(execution))
            #expect(failed.status == .failed)
            #expect(failed.error?.contains("m00000") == true && failed.error?.contains("disk full") == true)
        }
    }

    @Test func deadLetteredMemberCountsAsFailedAndTheCallbackSeesIt() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(4)
            let seen = Locked<[String]>([])
            var members = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            members.registerMember(task: "member", as: Part.self) { part, _ in
                if part.n == 2 { throw NonRetryableError(Refused(n: part.n)) }
                return part.n
            }
            var callbacks = Worker(client: fixture.client, queue: fixture.callbacks.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            callbacks.registerCallback(task: "aggregate", as: JSONPayload.Ignored.self) { _, callback, _ in
                seen.withLock { $0 = callback.failed.map(\.key) + ["sum=\(try! callback.results(as: Int.self).reduce(0, +))"] }
            }
            try await run(members, callbacks, until: "the barrier finalized") { try await fixture.barrier(barrierID).isFinalized }
            #expect(seen.value == ["m00002", "sum=4"])
            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.status == .fired && barrier.failed == 1)
            // Wait-for-all: the failure is the callback's to judge; the execution is not failed for it.
            #expect(try await fixture.client.executions.get(execution)?.status == .running)
            let failedMember = try await fixture.client.barriers.members(of: barrierID).first { $0.key == "m00002" }
            #expect(failedMember?.status == .failed && failedMember?.error?.contains("part 2 refused") == true)
        }
    }

    @Test func redeliveredCallbackAfterFinalizeSkipsItsSideEffects() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(0)
            let sideEffects = Locked(0)
            var callbacks = Worker(client: fixture.client, queue: fixture.callbacks.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            callbacks.registerCallback(task: "aggregate", as: JSONPayload.Ignored.self) { _, _, _ in
                sideEffects.withLock { $0 += 1 }
            }
            try await run(callbacks, until: "the callback finalized and acked") {
                let finalized = try await fixture.barrier(barrierID).isFinalized
                let waiting = try await fixture.callbackMessages()
                return finalized && waiting == 0
            }
            #expect(sideEffects.value == 1)
            // The same callback delivered again (an ack lost to a reaped connection, an
            // operator's requeue): a copy of the message with the same identity headers.
            let copy = try await TestDatabase.query("""
                SELECT \(fixture.schema.quoted).send('callbacks', '{}'::jsonb, 'redelivery', $1::jsonb, 'aggregate', $2::uuid)
                """, [PostgresJSON(text: #"{"muster-barrier": "\#(barrierID)", "muster-callback": "stage1"}"#), execution])
            #expect(copy.rows.count == 1)
            try await run(callbacks, until: "the redelivered callback acked") { try await fixture.callbackMessages() == 0 }
            #expect(sideEffects.value == 1)
        }
    }

    @Test func sigkillAfterRecordingACompletionBeforeCommitCountsNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            let (_, barrierID) = try await fixture.fanOut(1, payload: { _ in #"{"action":"succeed"}"# })
            try await TestDatabase.query("""
                CREATE TABLE \(fixture.schema.quoted).events (
                    message_id bigint, read_ct int, pid int, event text, at timestamptz DEFAULT clock_timestamp())
                """)
            let crasher = try ChildProcess([
                "test-worker", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name,
                "--queue", "jobs", "--record-table", "events", "--complete-then-crash",
            ])
            #expect(await crasher.wait() == 128 + SIGKILL, "\(crasher.output())")
            // The completion died with its transaction: nothing counted, the member still pending.
            #expect(try await fixture.barrier(barrierID).remaining == 1)
            #expect(try await fixture.count("barrier_members", where: "status = 'pending'") == 1)

            // Another worker gets the message once the 1 s lease expires and counts it once.
            let worker = try ChildProcess([
                "test-worker", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name,
                "--queue", "jobs", "--record-table", "events",
            ])
            defer { worker.kill(SIGKILL) }
            try await waitUntil("the barrier firing") { try await fixture.barrier(barrierID).status == .fired }
            let barrier = try await fixture.barrier(barrierID)
            #expect(barrier.remaining == 0)
            #expect(try await fixture.callbackMessages() == 1)
            let deliveries: [Int] = try await TestDatabase.query(
                "SELECT read_ct FROM \(fixture.schema.quoted).events WHERE event = 'finished'"
            ).rows.map { try $0.decode(0) }
            #expect(deliveries == [2])
        }
    }

    @Test func forgedBarrierHeadersCountNothingAndNeverBlockReads() async throws {
        try await OrchestrationFixture.with(settings: QueueSettings(maxAttempts: 1)) { fixture in
            let (execution, barrierID) = try await fixture.fanOut(1)
            for forged in [#"{"muster-member": "m00000", "muster-barrier": "abc"}"#,
                           #"{"muster-member": "m00000", "muster-barrier": "\#(barrierID)"}"#] {
                try await TestDatabase.query(
                    "SELECT \(fixture.schema.quoted).send('jobs', '{}'::jsonb, NULL, $1::jsonb, 'member', $2::uuid, -1::smallint)",
                    [PostgresJSON(text: forged), execution]
                )
            }
            // Both forged messages come first (priority -1); read them once, let the leases
            // lapse, and the next read dead-letters them (max attempts 1) without failing.
            #expect(try await fixture.members.read(limit: 2).count == 2)
            try await fixture.time.expireLeases(on: fixture.members.name)
            let real = try await fixture.members.read(limit: 10)
            #expect(real.map { $0.headers["muster-member"] } == ["m00000"])
            #expect(try await fixture.count("dead_letters") == 2)
            #expect(try await fixture.barrier(barrierID).remaining == 1)
            #expect(try await fixture.count("barrier_members", where: "status = 'pending'") == 1)
        }
    }
}
