import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The hot paths' guarantees that do not show in a result, only in how the database gets it:
/// fenced writes find their rows by primary key whatever the statistics say, and a send made
/// in plain SQL still wakes a sleeping worker now that the Swift client notifies on its own.
@Suite struct HotPathTests {
    @Test func fencedWritesAfterAFanOutWithoutAnalyzeFindTheirRowsById() async throws {
        try await OrchestrationFixture.with { fixture in
            // Statistics gathered while the members were ready say no row is leased; then
            // every member is leased (a fan-out being worked through), and nothing re-analyzes.
            let (_, barrier) = try await fixture.fanOut(20_000)
            try await TestDatabase.query("ANALYZE \(fixture.schema.quoted).messages")
            var leased: [ReceivedMessage] = []
            while leased.count < 20_000 { leased += try await fixture.members.read(limit: 1000) }

            // Each fenced write on one lease, with every statement's plan printed.
            let s = fixture.schema.quoted
            let (a, b, c, d, e, f) = (leased[0], leased[1], leased[2], leased[3], leased[4], leased[5])
            let fKey = try #require(f.headers["muster-member"])
            let script = """
                LOAD 'auto_explain';
                SET auto_explain.log_min_duration = 0;
                SET auto_explain.log_nested_statements = on;
                SET auto_explain.log_level = notice;
                SET client_min_messages = notice;
                SELECT * FROM \(s).ack('jobs', ARRAY[\(a.id)]::bigint[], ARRAY[\(a.readCount)]);
                SELECT * FROM \(s).extend('jobs', ARRAY[\(b.id)]::bigint[], ARRAY[\(b.readCount)]);
                SELECT * FROM \(s).release('jobs', ARRAY[\(c.id)]::bigint[], ARRAY[\(c.readCount)]);
                SELECT * FROM \(s).snooze('jobs', ARRAY[\(d.id)]::bigint[], ARRAY[\(d.readCount)], ARRAY['0']::interval[]);
                SELECT * FROM \(s).dead_letter('jobs', ARRAY[\(e.id)]::bigint[], ARRAY[\(e.readCount)], ARRAY['explicit']);
                SELECT * FROM \(s).complete_member('jobs', \(f.id), \(f.readCount), \(barrier), '\(fKey)', true);
                """
            let psql = try await ChildProcess.run(["-X", "-v", "ON_ERROR_STOP=1", "-c", script, try TestDatabase.url()], executable: "/usr/bin/psql")
            #expect(psql.status == 0, "\(psql.output)")
            let plans = psql.output.components(separatedBy: "plan:").filter { $0.contains("FROM messages AS m") || $0.contains("UPDATE messages AS m") }
            #expect(plans.count == 6, "one plan per fenced statement:\n\(psql.output)")
            for plan in plans {
                #expect(plan.contains("messages_pkey"), "found by id:\n\(plan)")
                #expect(!plan.contains("messages_pending"), "not by scanning the queue's leased rows:\n\(plan)")
            }
        }
    }

    @Test func aSendInPlainSQLWakesASleepingReader() async throws {
        try await QueueFixture.with { fixture in
            let woken = try await fixture.readWokenBy {
                try await TestDatabase.query("SELECT \(fixture.schema.quoted).send('jobs', '{\"n\": 9}'::jsonb)")
            }
            #expect(woken.messages.map(\.n) == [9])
            #expect(woken.after < .seconds(60))
        }
    }

    @Test func sendsFromManyTasksWakeTheReaderAndEnqueueEachKeyOnce() async throws {
        try await QueueFixture.with(options: .init(maxConnections: 8)) { fixture in
            async let reader = fixture.queue.read(limit: 1, waitUpTo: .seconds(120), pollInterval: .seconds(120))
            try await fixture.waitForListener()
            // 8 producers, each sending the same 50 keys: 50 messages, and the notifies of
            // 400 sends coalesce without losing the wake-up.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for key in 0..<50 {
                            var message = QueueFixture.payload(key)
                            message.dedupKey = "k\(key)"
                            try await fixture.queue.send(message)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await reader.count == 1)
            #expect(try await fixture.count("messages") == 50)
            #expect(try await fixture.count("message_keys") == 50)
        }
    }
}
