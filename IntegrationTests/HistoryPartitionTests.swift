import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Archive and dead letters in day partitions (0015_history_partitions.sql): created ahead,
/// dropped whole once every row is past its queue's retention and never before, the same
/// answers across a day boundary, and an upgrade that keeps every row of the old tables.
///
/// Time is never waited for: rows are placed on chosen days by moving their timestamps (a
/// partition-key update moves the row to that day's partition), and the drop is asked about
/// a chosen instant (`drop_expired_history_partitions(as_of)`), so the test reads the same
/// at any hour of the day.
@Suite struct HistoryPartitionTests {
    /// `day` UTC days from today's UTC midnight, plus `hours`, as SQL.
    private static func instant(day: Int, hours: Int = 0) -> String {
        "date_trunc('day', now(), 'UTC') + interval '\(day) days' + interval '\(hours) hours'"
    }

    /// The day partitions of `history`, as days relative to today (UTC).
    private func days(_ history: String, in schema: SchemaName) async throws -> [Int] {
        try await TestDatabase.query("""
            SELECT (extract(epoch FROM starts_at - date_trunc('day', now(), 'UTC')) / 86400)::int
            FROM \(schema.quoted).history_partitions WHERE history = $1 AND kind = 'day' ORDER BY starts_at
            """, [history]).rows.map { try $0.decode(0) }
    }

    private func ensure(_ schema: SchemaName, day: Int, ahead: Int = 3) async throws -> Int {
        try await TestDatabase.query("SELECT \(schema.quoted).ensure_history_partitions(\(Self.instant(day: day)), \(ahead))")
            .single().decode(0)
    }

    /// Drops what has expired at `day`/`hours`; returns partition name → rows it held.
    private func dropExpired(_ schema: SchemaName, day: Int, hours: Int) async throws -> [String: Int] {
        let rows = try await TestDatabase.query(
            "SELECT partition, row_count FROM \(schema.quoted).drop_expired_history_partitions(\(Self.instant(day: day, hours: hours)))"
        ).rows
        var dropped: [String: Int] = [:]
        for row in rows { dropped[try row.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? ""] = try row.decode(1) }
        return dropped
    }

    /// The partition name of `day` for `history`.
    private func name(_ history: String, day: Int) async throws -> String {
        try await TestDatabase.query(
            "SELECT $1 || '_' || to_char((\(Self.instant(day: day))) AT TIME ZONE 'UTC', 'YYYYMMDD')", [history]
        ).single().decode(0)
    }

    /// Archives `count` messages of `queue` through the API; returns their ids.
    private func archived(_ count: Int, on queue: Queue) async throws -> [Int64] {
        _ = try await queue.send((0..<count).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
        let messages = try await queue.read(limit: count)
        #expect(try await queue.archive(messages.map(\.lease)).applied.count == count)
        return messages.map(\.id)
    }

    /// Dead-letters `count` messages of `queue` through the API; returns their ids.
    private func deadLettered(_ count: Int, on queue: Queue) async throws -> [Int64] {
        _ = try await queue.send((0..<count).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
        let messages = try await queue.read(limit: count)
        #expect(try await queue.deadLetter(messages.map(\.lease), reason: "explicit").applied.count == count)
        return messages.map(\.id)
    }

    /// Moves history rows to `day`/`hours` (and so into that day's partition).
    private func place(_ schema: SchemaName, _ history: String, ids: [Int64], day: Int, hours: Int) async throws {
        let column = history == "archive" ? "archived_at" : "dead_at"
        try await TestDatabase.query(
            "UPDATE \(schema.quoted).\(history) SET \(column) = \(Self.instant(day: day, hours: hours)) WHERE id = ANY($1)", [ids]
        )
    }

    /// The partition a history row sits in.
    private func partition(of id: Int64, in history: String, _ schema: SchemaName) async throws -> String? {
        try await TestDatabase.query("SELECT tableoid::regclass::text FROM \(schema.quoted).\(history) WHERE id = $1", [id])
            .rows.first.map { try $0.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? "" }
    }

    @Test func partitionsAreCreatedAheadAndDroppedOnlyOnceEveryRowIsPastItsRetention() async throws {
        try await QueueFixture.with { fixture in
            let schema = fixture.schema
            let jobs = fixture.queue                         // retention 7 days (the default)
            try await fixture.client.createQueue("brief", settings: QueueSettings(retention: .seconds(86_400)))
            let brief = fixture.client.queue("brief")

            // Ahead: the migration made today and the next two days; a day later adds one more each.
            #expect(try await days("archive", in: schema) == [0, 1, 2])
            #expect(try await days("dead_letters", in: schema) == [0, 1, 2])
            #expect(try await ensure(schema, day: 1) == 2)
            #expect(try await ensure(schema, day: 1) == 0, "nothing twice")
            #expect(try await days("archive", in: schema) == [0, 1, 2, 3])

            // History nine to seven days old, in the partitions of those days.
            #expect(try await ensure(schema, day: -9) == 6)
            let a = try await archived(5, on: jobs)
            let s1 = try #require(try await archived(1, on: brief).first)
            let d = try await deadLettered(1, on: jobs)
            try await place(schema, "archive", ids: [a[0]], day: -9, hours: 1)
            try await place(schema, "archive", ids: [a[1]], day: -8, hours: 1)
            try await place(schema, "archive", ids: [a[2]], day: -7, hours: 13)    // 6 d 23 h old at today 12:00
            try await place(schema, "archive", ids: [a[3]], day: -7, hours: 1)
            try await place(schema, "archive", ids: [s1], day: -7, hours: 2)       // a queue with a 1-day retention
            try await place(schema, "dead_letters", ids: d, day: -9, hours: 1)
            #expect(try await partition(of: a[0], in: "archive", schema) == (try await name("archive", day: -9)))
            #expect(try await partition(of: a[2], in: "archive", schema) == (try await name("archive", day: -7)))
            #expect(try await partition(of: a[4], in: "archive", schema) == (try await name("archive", day: 0)))

            // At 12:00 today: the days whose every row is past retention go, with their rows; the
            // day holding one row still within it stays, whatever else it holds.
            var expired: [String: Int] = [:]
            for (history, day, rows) in [("archive", -9, 1), ("archive", -8, 1), ("dead_letters", -9, 1),
                                         ("dead_letters", -8, 0), ("dead_letters", -7, 0)] {
                expired[try await name(history, day: day)] = rows
            }
            let noon = try await dropExpired(schema, day: 0, hours: 12)
            #expect(noon == expired, "\(noon)")
            #expect(try await days("archive", in: schema) == [-7, 0, 1, 2, 3])
            #expect(try await fixture.count("archive") == 4)
            #expect(try await fixture.count("dead_letters") == 0)

            // The 1-day queue's row in the kept day goes row by row, a day after its retention;
            // the 7-day queue's rows there wait for the day's drop.
            #expect(try await TestDatabase.query("SELECT \(schema.quoted).sweep_retention(1000)").single().decode(0, as: Int.self) == 1)
            #expect(try await partition(of: s1, in: "archive", schema) == nil)
            #expect(try await partition(of: a[3], in: "archive", schema) != nil)

            // Two hours later the last young row has aged past 7 days: its day goes whole.
            let lastOld = try await name("archive", day: -7)
            let afternoon = try await dropExpired(schema, day: 0, hours: 14)
            #expect(afternoon == [lastOld: 2], "\(afternoon)")
            #expect(try await fixture.count("archive") == 1)
            // Today's partition is never dropped while its day lasts, however old its rows.
            try await place(schema, "archive", ids: [a[4]], day: 0, hours: 0)
            #expect(try await dropExpired(schema, day: 0, hours: 23).isEmpty)

            // A day whose rows already sit in the default partition is not created (PostgreSQL
            // would refuse it); those rows are swept row by row.
            try await place(schema, "archive", ids: [a[4]], day: -30, hours: 5)
            #expect(try await partition(of: a[4], in: "archive", schema) == "archive_default")
            #expect(try await ensure(schema, day: -30, ahead: 1) == 1, "only dead_letters gets the day")
            #expect(try await partition(of: a[4], in: "archive", schema) == "archive_default")
            #expect(try await TestDatabase.query("SELECT \(schema.quoted).sweep_retention(1000)").single().decode(0, as: Int.self) == 1)
            #expect(try await fixture.count("archive") == 0)

            // The reaper does the same on its own: it drops an expired day (before its row sweep
            // could take the rows one by one) and reports the rows the day held.
            #expect(try await ensure(schema, day: -10, ahead: 1) == 2)
            let old = try await archived(2, on: jobs)
            try await place(schema, "archive", ids: old, day: -10, hours: 1)
            let counts = try #require(try await Reaper(client: fixture.client).sweepOnce())
            #expect(counts["partitions_dropped"] == 2)
            #expect(counts["partitions_created"] == 0)
            #expect(counts["retention"] == 0, "the day went whole, not row by row")
            #expect(try await days("archive", in: schema).allSatisfy { $0 >= 0 })
        }
    }

    /// Dropping a partition needs an exclusive lock on the whole table, and every insert would
    /// queue behind a drop that waits: a partition another session is reading is skipped
    /// after 200 ms and dropped at the next sweep.
    @Test func aPartitionInUseIsSkippedUntilTheNextSweep() async throws {
        try await QueueFixture.with { fixture in
            let schema = fixture.schema
            #expect(try await ensure(schema, day: -10, ahead: 1) == 2)
            let old = try await archived(1, on: fixture.queue)
            try await place(schema, "archive", ids: old, day: -10, hours: 1)
            let report = try await TestDatabase.connect()
            _ = try await report.query("BEGIN")
            _ = try await report.query("SELECT count(*) FROM \(schema.quoted).archive")     // holds ACCESS SHARE until COMMIT
            let busy = try await dropExpired(schema, day: 0, hours: 12)
            #expect(busy == [try await name("dead_letters", day: -10): 0], "only the partition nobody reads")
            #expect(try await fixture.count("archive") == 1)
            _ = try await report.query("COMMIT")
            await report.close()
            #expect(try await dropExpired(schema, day: 0, hours: 12) == [try await name("archive", day: -10): 1])
        }
    }

    /// Creating a day takes an exclusive lock on the whole table: behind a long report the
    /// CREATE would wait, and every archive insert would queue behind it. A table another
    /// session is reading gets its day at a later sweep instead.
    @Test func aDayWhoseTableIsInUseIsCreatedAtALaterSweep() async throws {
        try await QueueFixture.with { fixture in
            let schema = fixture.schema
            let report = try await TestDatabase.connect()
            _ = try await report.query("BEGIN")
            _ = try await report.query("SELECT count(*) FROM \(schema.quoted).archive")     // holds ACCESS SHARE until COMMIT
            #expect(try await ensure(schema, day: 10, ahead: 1) == 1, "only dead_letters' day")
            #expect(try await days("archive", in: schema) == [0, 1, 2])
            #expect(try await days("dead_letters", in: schema) == [0, 1, 2, 10])
            // Archiving goes on meanwhile.
            #expect(try await archived(2, on: fixture.queue).count == 2)
            _ = try await report.query("COMMIT")
            await report.close()
            #expect(try await ensure(schema, day: 10, ahead: 1) == 1)
            #expect(try await days("archive", in: schema) == [0, 1, 2, 10])
        }
    }

    @Test func badArgumentsAreRefusedAndChangeNothing() async throws {
        try await QueueFixture.with { fixture in
            let s = fixture.schema.quoted
            let before = try await days("archive", in: fixture.schema)
            for call in ["ensure_history_partitions('infinity')", "ensure_history_partitions(now(), 0)",
                         "ensure_history_partitions(now(), 61)", "ensure_history_partitions(NULL)",
                         "drop_expired_history_partitions('infinity')", "drop_expired_history_partitions(NULL)"] {
                let error = await #expect(throws: PostgresError.self) { try await TestDatabase.query("SELECT * FROM \(s).\(call)") }
                #expect(error?.sqlState == "MU003", "\(call)")
            }
            #expect(try await days("archive", in: fixture.schema) == before)
            // Without the reaper's leadership the fenced step does nothing.
            #expect(try await TestDatabase.query("SELECT * FROM \(s).maintain_history_partitions('nobody', 1)").rows.isEmpty)
        }
    }

    @Test func archiveAndDeadLetterQueriesAnswerTheSameAcrossADayBoundary() async throws {
        try await QueueFixture.with { fixture in
            let schema = fixture.schema
            let queue = fixture.queue
            #expect(try await ensure(schema, day: -1, ahead: 1) == 2)
            let dead = try await deadLettered(4, on: queue)
            let archived = try await archived(4, on: queue)
            try await place(schema, "dead_letters", ids: Array(dead.prefix(2)), day: -1, hours: 3)
            try await place(schema, "archive", ids: Array(archived.prefix(2)), day: -1, hours: 3)
            let partitions = try await Set(dead.asyncMap { try await partition(of: $0, in: "dead_letters", schema) })
            #expect(partitions == [try await name("dead_letters", day: -1), try await name("dead_letters", day: 0)])

            // Newest first across both days: today's two, then yesterday's two.
            let expected = Array(dead.suffix(2).reversed()) + Array(dead.prefix(2).reversed())
            #expect(try await queue.deadLetters(limit: 10).map(\.id) == expected)
            #expect(try await fixture.client.newestDeadLetters(queue: queue.name, limit: 10).map(\.id) == expected)
            #expect(try await queue.deadLetters(id: dead[0]).map(\.id) == [dead[0]])
            let summary = try await TestDatabase.query(
                "SELECT sum(dead)::int FROM \(schema.quoted).dead_letter_summary WHERE queue = $1", [queue.name.rawValue]
            ).single().decode(0, as: Int.self)
            #expect(summary == 4)
            let metrics = try await queue.metrics()
            #expect(metrics.dead == 4)
            #expect(metrics.archived == 4)
            #expect(try await fixture.count("archive", where: "id = ANY('{\(archived.map(String.init).joined(separator: ","))}')") == 4)

            // Requeue takes dead letters from both days back, each once.
            #expect(Set(try await queue.requeueDeadLetters()) == Set(dead))
            #expect(try await fixture.count("dead_letters") == 0)
            #expect(try await fixture.count("messages", where: "state = 'ready'") == 4)
        }
    }

    @Test func upgradingKeepsEveryHistoryRowInALegacyPartition() async throws {
        try await TestDatabase.withSchema { schema in
            let s = schema.quoted
            let configuration = try TestDatabase.configuration()
            try await Migrator(database: configuration, schema: schema, migrations: Array(Migration.bundled.prefix(14))).migrate()
            try await TestDatabase.query("INSERT INTO \(s).queues (name) VALUES ('jobs')")
            // History as 0014 left it: rows of today, three days ago and ten days ago.
            try await TestDatabase.query("""
                INSERT INTO \(s).archive (id, queue, payload, task, priority, dedup_key, enqueued_at, read_ct, error_ct, archived_at)
                SELECT i, 'jobs', jsonb_build_object('n', i), 't', 0, 'k' || i, now() - make_interval(days => i), 1, 0,
                       now() - make_interval(days => (i - 1) * 5)
                FROM generate_series(1, 3) AS i
                """)
            try await TestDatabase.query("""
                INSERT INTO \(s).dead_letters (id, queue, payload, task, priority, dedup_key, enqueued_at, read_ct, error_ct, reason, dead_at)
                SELECT i, 'jobs', jsonb_build_object('n', i), 't', 0, 'k' || i, now() - make_interval(days => 3), 5, 5,
                       'max_attempts', now() - make_interval(days => i)
                FROM generate_series(11, 12) AS i
                """)
            func contents() async throws -> [String] {
                try await TestDatabase.query("""
                    SELECT row_to_json(a)::text FROM (SELECT * FROM \(s).archive ORDER BY id) AS a
                    UNION ALL SELECT row_to_json(d)::text FROM (SELECT * FROM \(s).dead_letters ORDER BY id) AS d
                    """).rows.map { try $0.decode(0) }
            }
            let before = try await contents()

            let upgrade = try await Migrator(database: configuration, schema: schema).migrate().map(\.version)
            #expect(upgrade.first == 15 && upgrade == Migration.bundled.dropFirst(14).map(\.version))
            #expect(try await contents() == before, "every row, every column")
            let kinds = try await TestDatabase.query(
                "SELECT history || ':' || kind FROM \(s).history_partitions ORDER BY 1"
            ).rows.map { try $0.decode(0, as: String.self) }
            #expect(kinds.filter { $0.hasSuffix(":legacy") } == ["archive:legacy", "dead_letters:legacy"])
            #expect(kinds.filter { $0.hasSuffix(":default") }.count == 2)

            // The views read the partitioned tables, the legacy rows included.
            let dead = try await TestDatabase.query("SELECT sum(dead)::int FROM \(s).dead_letter_summary").single().decode(0, as: Int.self)
            #expect(dead == 2)
            let counted = try await TestDatabase.query("SELECT archived, dead FROM \(s).queue_metrics WHERE queue = 'jobs'").single()
            #expect(try counted.decode(0, as: Int.self) == 3)
            #expect(try counted.decode(1, as: Int.self) == 2)
            // A legacy dead letter goes back to the queue; a new one lands in a day partition.
            let client = try TestDatabase.client(schema: schema)
            defer { Task { await client.shutdown() } }
            #expect(try await client.queue("jobs").requeueDeadLetters(ids: [11]) == [11])
            try await TestDatabase.query("UPDATE \(s).archive SET archived_at = \(Self.instant(day: 2, hours: 1)) WHERE id = 1")
            #expect(try await partition(of: 1, in: "archive", schema) == (try await name("archive", day: 2)))

            // The legacy partitions go once their last row is past retention (7 days).
            let dropped = try await dropExpired(schema, day: 20, hours: 0)
            #expect(dropped["archive_legacy"] == 2, "\(dropped)")
            #expect(dropped["dead_letters_legacy"] == 1, "\(dropped)")
        }
    }
}
