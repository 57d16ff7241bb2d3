import Foundation
@testable import Muster
import Testing
@testable import MusterPostgres

/// After a held snapshot the reaper rebuilds each hot index that grew under it, once
/// (0017_index_compaction.sql, 0020_index_sizes_after_a_held_snapshot.sql); the same sizes
/// without one are a busy queue's churn and left alone; what an interrupted rebuild left
/// behind is dropped.
@Suite struct IndexCompactionIntegrationTests {
    private func indexBytes(_ schema: SchemaName, _ index: String) async throws -> Int64 {
        try await TestDatabase.query("SELECT pg_relation_size($1::regclass)", ["\(schema.quoted).\(index)"]).single().decode(0)
    }

    @Test func anIndexLeftLargeByChurnIsRebuiltAndAnInterruptedRebuildsCopyIsDropped() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            // 200,000 messages sent, leased and acked: the indexes of messages grew with them
            // and, once vacuum has emptied them, keep their size.
            try await TestDatabase.query("""
                SELECT count(*) FROM \(s).send_batch('jobs', array_fill('{}'::jsonb, ARRAY[200000]),
                    ARRAY(SELECT 'k' || g FROM generate_series(1, 200000) AS g), NULL, array_fill('t'::text, ARRAY[200000]), notify => false)
                """)
            try await TestDatabase.query("UPDATE \(s).messages SET state = 'leased', visible_at = now() + interval '1 hour'")
            try await TestDatabase.query("DELETE FROM \(s).messages")
            try await TestDatabase.query("VACUUM ANALYZE \(s).messages, \(s).message_keys")     // the live rows known, not left to autovacuum's timing
            let grown = try await indexBytes(fixture.schema, "messages_ready")
            // A lease of an hour: a rebuild is cancelled after half the lease, which a slow
            // machine must not reach here.
            let reaper = Reaper(client: fixture.client, options: ReaperOptions(leaseTTL: .seconds(3600)))
            #expect(try await reaper.sweepOnce()?["indexes_rebuilt"] == 0, "without a held snapshot seen, this is churn")

            // The reaper saw a snapshot older than a minute at one sweep; it has ended since.
            var compaction = IndexCompaction()
            _ = compaction.next([], oldestSnapshot: .seconds(61))
            let grownUnderIt = "bytes > greatest(262144, 1.5 * fresh_bytes)"     // IndexCompaction's defaults
            let toRebuild = try await TestDatabase.query("SELECT count(*) FROM \(s).hot_index_sizes WHERE \(grownUnderIt)")
                .single().decode(0, as: Int.self)
            #expect(toRebuild >= 2, "messages_ready and messages_pending at least")

            // One index per sweep, the worst first, each once, then nothing.
            var rebuilds = 0
            while try await reaper.sweepOnce(compaction: &compaction)?["indexes_rebuilt"] == 1 { rebuilds += 1 }
            #expect(rebuilds == toRebuild)
            #expect(compaction.rebuiltAfterSnapshot == nil, "the episode ended")
            let rebuilt = try await indexBytes(fixture.schema, "messages_ready")
            #expect(rebuilt < grown / 10, "\(grown) → \(rebuilt) bytes")
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(s).hot_index_sizes WHERE \(grownUnderIt)").single().decode(0, as: Int.self) == 0)

            // A rebuild cancelled halfway leaves an invalid copy named *_ccnew: the next sweep drops it.
            try await TestDatabase.query("CREATE INDEX messages_ready_ccnew ON \(s).messages (queue, priority, id) WHERE state = 'ready'")
            try await TestDatabase.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = '\(s).messages_ready_ccnew'::regclass")
            #expect(try await reaper.sweepOnce()?["indexes_rebuilt"] == 0)
            #expect(try await TestDatabase.query("SELECT to_regclass('\(s).messages_ready_ccnew') IS NULL").single().decode(0, as: Bool.self))
        }
    }

    @Test func anOpenSnapshotShowsItsAge() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            let report = try await TestDatabase.connect()
            _ = try await report.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
            _ = try await report.query("SELECT count(*) FROM pg_class")
            _ = try await report.query("SELECT pg_sleep(0.05)")
            let age = try await TestDatabase.query("SELECT extract(epoch FROM \(s).oldest_snapshot_age())::float8").single().decode(0, as: Double.self)
            #expect(age >= 0.05)
            _ = try await report.query("COMMIT")
            await report.close()
        }
    }
}
