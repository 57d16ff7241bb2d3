import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The reaper: one leader at a time, deadlines that fail stuck work once and never slow work.
@Suite struct ReaperTests {
    @Test func sigkilledLeaderIsReplacedOnceItsLeaseExpires() async throws {
        try await OrchestrationFixture.with { fixture in
            func start() throws -> ChildProcess {
                try ChildProcess([
                    "reaper", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name,
                    "--lease", "2s", "--interval", "200ms",
                ])
            }
            let reapers = try [start(), start()]
            defer { reapers.forEach { $0.kill(SIGKILL) } }
            func leaderPID() async throws -> Int32? {
                let holder: String? = try await TestDatabase.query(
                    "SELECT holder FROM \(fixture.schema.quoted).leader_leases WHERE name = 'reaper' AND expires_at > now()"
                ).rows.first?.decode(0)
                // holder is host:pid:random/reaper
                return holder.flatMap { $0.split(separator: ":").dropFirst().first.flatMap { Int32($0) } }
            }
            try await waitUntil("a reaper to lead") { try await leaderPID() != nil }
            let leader = try #require(try await leaderPID())
            let (dead, survivor) = reapers[0].pid == leader ? (reapers[0], reapers[1]) : (reapers[1], reapers[0])
            dead.kill(SIGKILL)
            _ = await dead.wait()
            // The dead leader's lease runs out one lease (2 s) after its last renewal...
            let granted: Double = try await TestDatabase.query(
                "SELECT extract(epoch FROM expires_at - renewed_at)::float8 FROM \(fixture.schema.quoted).leader_leases WHERE name = 'reaper'"
            ).single().decode(0)
            #expect(granted <= 2.001)
            // ...and once it has, the survivor takes over.
            try await fixture.time.expireLeadership()
            try await waitUntil("the survivor to lead") { try await leaderPID() == survivor.pid }
        }
    }

    @Test func gracefulStopResignsAtOnce() async throws {
        try await OrchestrationFixture.with { fixture in
            let reaper = try ChildProcess([
                "reaper", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name, "--lease", "60s",
            ])
            try await waitUntil("the reaper to lead") { try await fixture.count("leader_leases") == 1 }
            reaper.kill(SIGTERM)
            #expect(await reaper.wait() == 0, "\(reaper.output())")
            #expect(try await fixture.count("leader_leases") == 0)
        }
    }

    @Test func barrierPastItsDeadlineFailsItsExecutionExactlyOnce() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(3, deadline: Date().addingTimeInterval(3600))
            let message = try #require(try await fixture.members.read(limit: 1).first)
            try await fixture.client.barriers.complete(queue: fixture.members.name, lease: message.lease, barrierID: barrierID,
                                                      memberKey: message.headers["muster-member"]!, result: nil)
            let reaper = Reaper(client: fixture.client)
            #expect(try await reaper.sweepOnce()?["expired_barriers"] == 0)
            try await fixture.time.passDeadline(ofBarrier: barrierID)
            #expect(try await reaper.sweepOnce()?["expired_barriers"] == 1)
            #expect(try await reaper.sweepOnce()?["expired_barriers"] == 0)

            #expect(try await fixture.barrier(barrierID).status == .expired)
            let failed = try #require(try await fixture.client.executions.get(execution))
            #expect(failed.status == .failed)
            #expect(failed.error == "barrier stage1 passed its deadline with 2 of 3 members missing: m00001, m00002")
            // Members finishing late change nothing.
            for late in try await fixture.members.read(limit: 2) {
                try await fixture.client.barriers.complete(queue: fixture.members.name, lease: late.lease, barrierID: barrierID,
                                                          memberKey: late.headers["muster-member"]!, result: nil)
            }
            #expect(try await fixture.callbackMessages() == 0)
            #expect(try await fixture.client.executions.get(execution)?.error == failed.error)
        }
    }

    @Test func memberWaitingOutARetryBackoffDoesNotTripTheDeadline() async throws {
        try await OrchestrationFixture.with { fixture in
            let (execution, barrierID) = try await fixture.fanOut(1, deadline: Date().addingTimeInterval(3600))
            let first = try #require(try await fixture.members.read(limit: 1).first)
            try await fixture.members.release([first.lease], delay: .seconds(600), error: "flaky upstream")
            try await fixture.time.passDeadline(ofBarrier: barrierID)
            let reaper = Reaper(client: fixture.client)
            #expect(try await reaper.sweepOnce()?["expired_barriers"] == 0)
            #expect(try await fixture.barrier(barrierID).status == .armed)
            #expect(try await fixture.client.executions.get(execution)?.status == .running)

            // Also not while the retry runs under a live lease.
            try await fixture.time.endDelays(on: fixture.members.name)
            #expect(try await fixture.members.read(limit: 1, visibilityTimeout: .seconds(30)).count == 1)
            #expect(try await reaper.sweepOnce()?["expired_barriers"] == 0)
            let retry = try #require(try await TestDatabase.query(
                "SELECT id, read_ct FROM \(fixture.schema.quoted).messages WHERE queue = 'jobs'"
            ).rows.first)
            let completion = try await fixture.client.barriers.complete(
                queue: fixture.members.name, lease: Lease(messageID: try retry.decode(0), readCount: try retry.decode(1)),
                barrierID: barrierID, memberKey: "m00000", result: nil
            )
            #expect(completion.fired)
        }
    }

    @Test func deadLetteredCallbackFailsItsExecution() async throws {
        try await OrchestrationFixture.with(settings: QueueSettings(maxAttempts: 1)) { fixture in
            let (execution, _) = try await fixture.fanOut(0)
            #expect(try await fixture.callbacks.read(limit: 1).count == 1)
            try await fixture.time.expireLeases(on: fixture.callbacks.name)
            // The next read finds it past max attempts (a crash loop) and dead-letters it.
            #expect(try await fixture.callbacks.read(limit: 1).isEmpty)
            let failed = try #require(try await fixture.client.executions.get(execution))
            #expect(failed.status == .failed)
            #expect(failed.error?.contains("max_attempts") == true && failed.error?.contains("no error recorded") == true)
        }
    }

    @Test func terminalExecutionsPastRetentionAreDeletedWithTheirBarriersUnlessSomethingStillPointsAtThem() async throws {
        try await OrchestrationFixture.with { fixture in
            let client = fixture.client
            // Done: a completed execution whose barrier fired with no members, and a canceled one.
            let (done, _) = try await fixture.fanOut(0)
            let callback = try #require(try await fixture.callbacks.read(limit: 1).first)    // fired at once
            try await fixture.callbacks.ack(callback.lease)
            try await client.executions.transition(done, to: .completed)
            let canceled = try await fixture.newExecution()
            try await client.executions.cancel(canceled)
            // Kept: a running one, and a completed one whose member message is still queued.
            let (running, _) = try await fixture.fanOut(2)
            let (busy, _) = try await fixture.fanOut(1)
            try await client.executions.transition(busy, to: .completed)
            let retention = Duration.seconds(3600)
            let reaper = Reaper(client: client, options: ReaperOptions(executionRetention: retention, batchSize: 1))
            #expect(try await reaper.sweepOnce()?["executions"] == 0)      // within retention
            try await fixture.time.ageExecutions(by: retention + .seconds(1))
            #expect(try await reaper.sweepOnce()?["executions"] == 1)     // one per batch
            #expect(try await reaper.sweepOnce()?["executions"] == 1)
            #expect(try await reaper.sweepOnce()?["executions"] == 0)
            let left = try await TestDatabase.query("SELECT id FROM \(fixture.schema.quoted).executions ORDER BY created_at")
                .rows.map { try $0.decode(0, as: UUID.self) }
            #expect(left == [running, busy])
            #expect(try await fixture.count("barriers") == 2)
            #expect(try await fixture.count("barrier_members") == 3)

            let keeper = Reaper(client: client, options: ReaperOptions(executionRetention: nil))
            #expect(try await keeper.sweepOnce()?["executions"] == nil)
        }
    }
}
