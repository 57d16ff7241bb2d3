import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// `read_from` (0016_reads_past_the_dead.sql): a read that starts where the reader's last one
/// ended takes what came after it and every due row, and what reappears behind it (released,
/// late-committed) waits only for the next read from the front; a worker loses nothing.
@Suite struct ReadFromTests {
    /// One `read_from` call: the leased ids and the next start.
    private struct Read {
        var ids: [Int64]
        var next: (priority: Int16, id: Int64, due: String)
    }

    private func read(_ fixture: QueueFixture, _ qty: Int, from start: (priority: Int16, id: Int64, due: String)?) async throws -> Read {
        let rows = try await TestDatabase.query("""
            SELECT id, next_ready_priority, next_ready_id, next_due_after::text
            FROM \(fixture.schema.quoted).read_from('jobs', $1, NULL, 'reader', $2::smallint, $3, $4::timestamptz)
            """, [qty, start?.priority, start?.id, start?.due]).rows
        let first = try #require(rows.first, "read_from returns at least one row")
        return Read(ids: try rows.compactMap { try $0.decodeIfPresent(0, as: Int64.self) },
                    next: (try first.decode(1), try first.decode(2), try first.decode(3)))
    }

    private func send(_ fixture: QueueFixture, _ count: Int) async throws -> [Int64] {
        try await fixture.queue.send((0..<count).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") }).map(\.id)
    }

    @Test func readsContinueWhereTheLastEndedAndTheFrontFindsWhatCameBack() async throws {
        try await QueueFixture.with { fixture in
            let ids = try await send(fixture, 10)
            let first = try await read(fixture, 4, from: nil)
            #expect(first.ids == Array(ids[0..<4]))
            #expect(first.next.priority == 0 && first.next.id == ids[3])
            let second = try await read(fixture, 4, from: first.next)
            #expect(second.ids == Array(ids[4..<8]))

            // A message released to ready keeps its id, behind the position: the next read from
            // the position does not see it, the next read from the front does.
            try await TestDatabase.query(
                "SELECT \(fixture.schema.quoted).release('jobs', ARRAY[$1::bigint], ARRAY[1])", [ids[1]]
            )
            let third = try await read(fixture, 10, from: second.next)
            #expect(third.ids == Array(ids[8..<10]))
            #expect(try await read(fixture, 10, from: nil).ids == [ids[1]])
        }
    }

    @Test func aSendCommittedAfterALaterOneIsFoundFromTheFront() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            let producer = try await TestDatabase.connect()
            _ = try await producer.query("BEGIN")
            let late: Int64 = try await producer.query("SELECT \(s).send('jobs', '{}'::jsonb)").single().decode(0)
            let early = try await send(fixture, 2)
            let read1 = try await read(fixture, 10, from: nil)
            #expect(read1.ids == early)
            _ = try await producer.query("COMMIT")
            await producer.close()
            #expect(try await read(fixture, 10, from: read1.next).ids.isEmpty)
            #expect(try await read(fixture, 10, from: nil).ids == [late])
        }
    }

    @Test func anExpiredLeaseIsFoundFromThePosition() async throws {
        try await QueueFixture.with { fixture in
            let ids = try await send(fixture, 3)
            let first = try await read(fixture, 3, from: nil)
            #expect(first.ids == ids)
            try await fixture.time.expireLeases(on: fixture.queue.name)     // its holder crashed
            #expect(try await read(fixture, 10, from: first.next).ids == ids)
        }
    }

    @Test func anEmptyReadMovesThePositionPastEveryIdHandedOut() async throws {
        try await QueueFixture.with { fixture in
            let ids = try await send(fixture, 3)
            let taken = try await read(fixture, 3, from: nil)
            #expect(taken.ids == ids)
            let empty = try await read(fixture, 3, from: nil)
            #expect(empty.ids.isEmpty)
            #expect(empty.next.id == ids[2] && empty.next.priority == 0)
            // Paused or not, read() returns messages only: no position row.
            #expect(try await fixture.queue.read(limit: 5).isEmpty)
        }
    }

    @Test func aMoreUrgentMessageIsFoundAheadOfThePosition() async throws {
        try await QueueFixture.with { fixture in
            _ = try await send(fixture, 3)
            let first = try await read(fixture, 3, from: nil)
            let urgent = try await fixture.queue.send(OutgoingMessage(payload: .emptyObject, task: "t", priority: -5)).id
            let later = try await send(fixture, 1)
            let next = try await read(fixture, 10, from: first.next)
            #expect(next.ids == [urgent] + later)
        }
    }

    /// The worker reads from where it was, and from the front every second: a message sent by
    /// a transaction that commits after a hundred later ones were processed is still handled.
    @Test func aWorkerHandlesASendCommittedAfterLaterOnes() async throws {
        try await WorkerFixture.with(settings: QueueSettings()) { fixture in
            let s = fixture.schema.quoted
            let worker = try fixture.startWorker()
            defer { worker.kill(SIGKILL) }
            let producer = try await TestDatabase.connect()
            _ = try await producer.query("BEGIN")
            let late: Int64 = try await producer.query(
                "SELECT \(s).send('jobs', '{\"action\":\"succeed\"}'::jsonb, NULL, NULL, 'test')"
            ).single().decode(0)
            var others: [Int64] = []
            for _ in 0..<100 { others.append(try await fixture.send("succeed")) }
            try await waitUntil("the worker to finish the 100 sent after") {
                try await fixture.queueFixture.count("messages", where: "id = ANY('{\(others.map(String.init).joined(separator: ","))}')") == 0
            }
            _ = try await producer.query("COMMIT")
            await producer.close()
            try await waitUntil("the late-committed message to be handled") { try await !fixture.messageExists(late) }
            #expect(try await fixture.events(late).map(\.event) == ["started", "finished"])
        }
    }
}
