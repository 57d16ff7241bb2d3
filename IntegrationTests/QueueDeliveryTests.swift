import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Delivery order, leases, fencing and long polls (DESIGN.md guarantees 1–3).
@Suite struct QueueDeliveryTests {
    @Test func fifoWithinAPriorityAndLowerPriorityFirst() async throws {
        try await QueueFixture.with { fixture in
            var messages: [OutgoingMessage] = []
            for n in 0..<6 {
                var message = QueueFixture.payload(n)
                message.priority = n % 2 == 0 ? 5 : 1
                messages.append(message)
            }
            try await fixture.queue.send(messages)
            let read = try await fixture.queue.read(limit: 10)
            #expect(read.map(\.n) == [1, 3, 5, 0, 2, 4])
            #expect(read.allSatisfy { $0.readCount == 1 })
        }
    }

    @Test func readNeverReturnsMoreThanTheLimit() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send((0..<20).map(QueueFixture.payload))
            #expect(try await fixture.queue.read(limit: 7).count == 7)
            #expect(try await fixture.queue.read(limit: 20).count == 13)
            #expect(try await fixture.queue.read(limit: 5).isEmpty)
        }
    }

    @Test func eightConcurrentReadersDrainTenThousandMessagesEachLeasedOnce() async throws {
        try await QueueFixture.with(options: .init(maxConnections: 10)) { fixture in
            let total = 10_000
            for start in stride(from: 0, to: total, by: 1000) {
                try await fixture.queue.send((start..<start + 1000).map(QueueFixture.payload))
            }
            let seen = Locked<[Int64: Int]>([:])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while true {
                            let batch = try await fixture.queue.read(limit: 50)
                            if batch.isEmpty { return }
                            seen.withLock { for message in batch { $0[message.id, default: 0] += 1 } }
                            let outcome = try await fixture.queue.ack(batch.map(\.lease))
                            #expect(outcome.allApplied)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let counts = seen.value
            #expect(counts.count == total)
            #expect(counts.values.allSatisfy { $0 == 1 })
            #expect(try await fixture.count("messages") == 0)
        }
    }

    @Test func expiredLeaseIsReadAgainWithReadCountTwo() async throws {
        try await QueueFixture.with { fixture in
            let sent = try await fixture.queue.send(QueueFixture.payload(1))
            let first = try #require(try await fixture.queue.read().first)
            #expect(first.id == sent.id && first.readCount == 1)
            #expect(try await fixture.queue.read().isEmpty)
            try await fixture.time.expireLeases(on: fixture.queue.name)
            let second = try #require(try await fixture.queue.read().first)
            #expect(second.id == sent.id && second.readCount == 2)
        }
    }

    @Test func ackWithAStaleReadCountIsRejectedAndTheNewHoldersAckWorks() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let old = try #require(try await fixture.queue.read().first)
            try await fixture.time.expireLeases(on: fixture.queue.name)
            let new = try #require(try await fixture.queue.read().first)
            let stale = try await fixture.queue.ack([old.lease])
            #expect(stale.lost == [old.lease] && stale.applied.isEmpty)
            #expect(try await !fixture.queue.extend([old.lease]).allApplied)
            #expect(try await !fixture.queue.release([old.lease], error: "late").allApplied)
            #expect(try await fixture.count("messages", where: "last_error IS NULL") == 1)
            #expect(try await fixture.queue.ack(new.lease))
            #expect(try await fixture.count("messages") == 0)
        }
    }

    @Test func extendKeepsTheLeaseAlivePastItsTimeout() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read(visibilityTimeout: .seconds(30)).first)
            #expect(try await fixture.queue.extend([message.lease], by: .seconds(600)).allApplied)
            // The lease now runs 10 minutes from the extension, far past the 30 s it was read with.
            let lease = try #require(try await fixture.state(message.id))
            #expect(lease.state == "leased" && lease.visibleInSeconds > 500)
            #expect(try await fixture.queue.read().isEmpty)
            // An extension also revives a lease that lapsed, as long as nobody read it since.
            try await fixture.time.expireLeases(on: fixture.queue.name)
            #expect(try await fixture.queue.extend([message.lease], by: .seconds(600)).allApplied)
            #expect(try await fixture.queue.read().isEmpty)
            #expect(try await fixture.queue.ack(message.lease))
        }
    }

    @Test func releaseWithDelayHidesTheMessageAndRecordsTheError() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read().first)
            #expect(try await fixture.queue.release([message.lease], delay: .seconds(600), error: "boom").allApplied)
            let delayed = try #require(try await fixture.state(message.id))
            #expect(delayed.state == "delayed" && delayed.visibleInSeconds > 500)
            #expect(try await fixture.queue.read().isEmpty)
            try await fixture.time.endDelays(on: fixture.queue.name)
            let again = try #require(try await fixture.queue.read().first)
            #expect(again.readCount == 2 && again.errorCount == 1 && again.lastError == "boom")
        }
    }

    @Test func delayedMessageIsInvisibleUntilDue() async throws {
        try await QueueFixture.with { fixture in
            var message = QueueFixture.payload(1)
            message.delay = .seconds(600)
            try await fixture.queue.send(message)
            try await fixture.queue.send(QueueFixture.payload(2))
            #expect(try await fixture.queue.read(limit: 10).map(\.n) == [2])
            #expect(try await fixture.queue.read(limit: 10).isEmpty)
            try await fixture.time.endDelays(on: fixture.queue.name)
            #expect(try await fixture.queue.read(limit: 10).map(\.n) == [1])
        }
    }

    @Test func archiveKeepsTheMessageInTheArchive() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read().first)
            #expect(try await fixture.queue.archive([message.lease]).allApplied)
            #expect(try await fixture.count("messages") == 0)
            #expect(try await fixture.count("archive") == 1)
        }
    }

    @Test func pausedQueueHandsOutNothingButAcceptsSends() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.client.updateQueue(fixture.queue.name, settings: QueueSettings(paused: true))
            try await fixture.queue.send(QueueFixture.payload(1))
            #expect(try await fixture.queue.read().isEmpty)
            try await fixture.client.updateQueue(fixture.queue.name, settings: QueueSettings())
            #expect(try await fixture.queue.read().count == 1)
        }
    }

    @Test func longPollWakesOnSend() async throws {
        try await QueueFixture.with { fixture in
            let woken = try await fixture.readWokenBy { try await fixture.queue.send(QueueFixture.payload(7)) }
            #expect(woken.messages.map(\.n) == [7])
            #expect(woken.after < .seconds(60))
        }
    }

    @Test func longPollPollsWhenListenIsDisabled() async throws {
        try await QueueFixture.with(options: .init(useListenNotify: false)) { fixture in
            async let reader = fixture.queue.read(waitUpTo: .seconds(120), pollInterval: .milliseconds(100))
            try await fixture.queue.send(QueueFixture.payload(8))
            #expect(try await reader.map(\.n) == [8])
            let listeners = try await TestDatabase.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                ["\(fixture.applicationName)-listener"]
            )
            #expect(try listeners.single().decode(0, as: Int.self) == 0)
        }
    }

    @Test func longPollReturnsEmptyWhenNothingArrives() async throws {
        try await QueueFixture.with { fixture in
            let messages = try await fixture.queue.read(waitUpTo: .milliseconds(300))
            #expect(messages.isEmpty)
        }
    }
}

@Suite struct InFlightViewTests {
    @Test func inFlightViewShowsWhoHoldsALease() async throws {
        try await QueueFixture.with(options: .init(workerID: "host-a:42:test")) { fixture in
            try await fixture.queue.send(QueueFixture.payload(1))
            let message = try #require(try await fixture.queue.read().first)
            let row = try await TestDatabase.query(
                "SELECT leased_by, read_ct, expired FROM \(fixture.schema.quoted).in_flight WHERE id = $1", [message.id]
            ).single()
            #expect(try row.decode(0, as: String.self) == "host-a:42:test")
            #expect(try row.decode(1, as: Int32.self) == 1)
            #expect(try row.decode(2, as: Bool.self) == false)
        }
    }
}
