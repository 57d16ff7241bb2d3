import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The dedup ledger keeps a caller's key for the queue's dedup window and a key the client
/// generated (for its own retry) for 5 minutes (0018_dedup_ledger_sized_to_need.sql).
@Suite struct DedupLedgerTests {
    @Test func generatedKeysGoAfterFiveMinutesAndGivenKeysAfterTheWindow() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            let queue = fixture.queue
            _ = try await queue.send((0..<3).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
            _ = try await queue.send((0..<2).map { OutgoingMessage(payload: .emptyObject, task: "t", dedupKey: "order-\($0)") })
            #expect(try await fixture.count("message_keys", where: "starts_with(dedup_key, 'muster:sent:')") == 3)
            func age(by interval: String) async throws {
                try await TestDatabase.query("UPDATE \(s).message_keys SET created_at = created_at - interval '\(interval)'")
            }
            func sweep() async throws -> Int {
                try await TestDatabase.query("SELECT \(s).sweep_retention(1000)").single().decode(0)
            }
            try await age(by: "4 minutes")
            #expect(try await sweep() == 0, "within 5 minutes a retry still finds every key")
            try await age(by: "61 seconds")
            #expect(try await sweep() == 3)
            #expect(try await fixture.count("message_keys") == 2, "the caller's keys stay for the day")
            // A caller's key still deduplicates: the send returns the first message.
            #expect(try await queue.send(OutgoingMessage(payload: .emptyObject, task: "t", dedupKey: "order-0")).duplicate)
            try await age(by: "1 day")
            #expect(try await sweep() == 2)
            #expect(try await fixture.count("message_keys") == 0)
        }
    }

    @Test func aShorterDedupWindowAlsoBoundsGeneratedKeys() async throws {
        try await QueueFixture.with(settings: QueueSettings(dedupWindow: .seconds(60))) { fixture in
            let s = fixture.schema.quoted
            _ = try await fixture.queue.send(OutgoingMessage(payload: .emptyObject, task: "t"))
            try await TestDatabase.query("UPDATE \(s).message_keys SET created_at = created_at - interval '61 seconds'")
            #expect(try await TestDatabase.query("SELECT \(s).sweep_retention(1000)").single().decode(0, as: Int.self) == 1)
        }
    }
}
