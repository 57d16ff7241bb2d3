import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// Barrier members in ranges of barrier ids (0019_barrier_members_in_partitions.sql): the next
/// range created ahead and sized to the arming rate, a range dropped whole only once every
/// execution of its barriers is one the row sweep would delete, the same answers across a
/// range boundary, and an upgrade that keeps every member of the old table.
///
/// Time is never waited for: executions are finished in the past by moving finished_at, the
/// arming rate by moving barriers' created_at, and the drop is asked about a chosen instant.
@Suite struct MemberPartitionTests {
    /// The ranges of barrier_members as "first..<end", in order.
    private func ranges(_ schema: SchemaName) async throws -> [String] {
        try await TestDatabase.query("""
            SELECT first_barrier || '..<' || end_barrier FROM \(schema.quoted).member_partitions
            WHERE kind = 'range' ORDER BY first_barrier
            """).rows.map { try $0.decode(0) }
    }

    private func ensure(_ schema: SchemaName, width: Int? = nil) async throws -> Int {
        let width: Int64? = width.map { Int64($0) }
        return try await TestDatabase.query("SELECT \(schema.quoted).ensure_member_partitions(width => $1::bigint)", [width])
            .single().decode(0)
    }

    /// Drops the expired ranges at now() + `daysLater` days with a 7-day retention; returns partition name → rows.
    private func dropExpired(_ schema: SchemaName, daysLater: Int = 0) async throws -> [String: Int] {
        let rows = try await TestDatabase.query("""
            SELECT partition, row_count FROM \(schema.quoted).drop_expired_member_partitions(
                interval '7 days', now() + make_interval(days => $1))
            """, [daysLater]).rows
        var dropped: [String: Int] = [:]
        for row in rows { dropped[try row.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? ""] = try row.decode(1) }
        return dropped
    }

    /// The partition each member of `barrier` sits in.
    private func partitions(of barrier: Int64, _ schema: SchemaName) async throws -> Set<String> {
        Set(try await TestDatabase.query(
            "SELECT DISTINCT tableoid::regclass::text FROM \(schema.quoted).barrier_members WHERE barrier_id = $1", [barrier]
        ).rows.map { try $0.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? "" })
    }

    /// Completes every member message waiting (each for the barrier its headers name) and acks
    /// the callbacks that fired: their executions have no message left.
    private func completeEveryMember(_ fixture: OrchestrationFixture) async throws {
        while case let messages = try await fixture.members.read(limit: 100), !messages.isEmpty {
            for message in messages {
                let outcome = try await fixture.client.barriers.complete(
                    queue: fixture.members.name, lease: message.lease,
                    barrierID: try #require(message.headers["muster-barrier"].flatMap { Int64($0) }),
                    memberKey: try #require(message.headers["muster-member"]), result: try JSONPayload(json: "1"))
                #expect(outcome.counted)
            }
        }
        let callbacks = try await fixture.callbacks.read(limit: 100)
        #expect(try await fixture.callbacks.ack(callbacks.map(\.lease)).applied.count == callbacks.count)
    }

    /// Completes `execution` and moves it `days` into the past: its start, its barriers' arming, its end.
    private func finish(_ execution: UUID, daysAgo days: Int, _ fixture: OrchestrationFixture) async throws {
        let s = fixture.schema.quoted
        try await fixture.client.executions.transition(execution, to: .completed)
        try await TestDatabase.query("""
            UPDATE \(s).executions
            SET finished_at = now() - make_interval(days => $2), created_at = now() - make_interval(days => $2, hours => 1)
            WHERE id = $1
            """, [execution, days])
        try await TestDatabase.query(
            "UPDATE \(s).barriers SET created_at = now() - make_interval(days => $2, mins => 30) WHERE execution_id = $1",
            [execution, days])
    }

    /// The answer of docs/sql-debugging.md's member query for `execution`, as JSON lines.
    private func memberAnswer(_ execution: UUID, _ schema: SchemaName) async throws -> [String] {
        try await TestDatabase.query("""
            SELECT row_to_json(x)::text FROM (
                SELECT b.name AS barrier, bm.member_key, bm.status, bm.result, bm.error, bm.completed_at
                FROM \(schema.quoted).barrier_members AS bm JOIN \(schema.quoted).barriers AS b ON b.id = bm.barrier_id
                WHERE b.execution_id = $1 ORDER BY b.id, bm.member_key) AS x
            """, [execution]).rows.map { try $0.decode(0) }
    }

    @Test func theNextRangeIsCreatedOnceIdsReachTheNewestAndIsSizedToTheArmingRate() async throws {
        try await OrchestrationFixture.with { fixture in
            let schema = fixture.schema
            let s = schema.quoted
            // The migration made the first range; nothing reached it, so nothing more is made.
            #expect(try await ranges(schema) == ["1..<1001"])
            #expect(try await ensure(schema) == 0)

            // Ten barriers armed over two hours: 9 ids in 7,200 s is 108 a day, so 100 days of
            // arming is 10,800 ids, rounded up to 11,000.
            for _ in 0..<10 { _ = try await fixture.fanOut(2) }
            try await TestDatabase.query("UPDATE \(s).barriers SET created_at = now() - interval '2 hours' + (id - 1) * interval '800 seconds'")
            #expect(try await TestDatabase.query("SELECT \(s).member_partition_width('100 days')").single().decode(0, as: Int.self) == 11_000)
            // Less than an hour of arming counts as an hour (216 a day: a burst is not a rate); a day is at least 1,000.
            try await TestDatabase.query("UPDATE \(s).barriers SET created_at = now() - interval '1 minute' + (id - 1) * interval '1 second'")
            #expect(try await TestDatabase.query("SELECT \(s).member_partition_width('100 days')").single().decode(0, as: Int.self) == 22_000)
            #expect(try await TestDatabase.query("SELECT \(s).member_partition_width()").single().decode(0, as: Int.self) == 1_000)

            // Ids are in the newest range now: the next one waits beyond it, once.
            #expect(try await ensure(schema) == 1)
            #expect(try await ensure(schema) == 0, "nothing twice")
            #expect(try await ranges(schema) == ["1..<1001", "1001..<2001"])
            #expect(try await partitions(of: 10, schema) == ["barrier_members_1"])

            // Ids that ran past every range (no reaper for a while) put members in the default
            // partition; the next range starts past them, and their members are found as any.
            try await TestDatabase.query("ALTER TABLE \(s).barriers ALTER COLUMN id RESTART WITH 5000")
            let (_, stray) = try await fixture.fanOut(3)
            #expect(stray == 5000)
            #expect(try await partitions(of: stray, schema) == ["barrier_members_default"])
            #expect(try await ensure(schema, width: 10) == 1)
            #expect(try await ranges(schema) == ["1..<1001", "1001..<2001", "5001..<5011"])
            let (_, next) = try await fixture.fanOut(1)
            #expect(try await partitions(of: next, schema) == ["barrier_members_5001"])
            #expect(try await fixture.count("barrier_members", where: "barrier_id = \(stray) AND status = 'pending'") == 3)
        }
    }

    @Test func aRangeGoesWholeOnlyOnceEveryExecutionOfItsBarriersWouldBeSwept() async throws {
        try await OrchestrationFixture.with { fixture in
            let schema = fixture.schema
            // Ranges of two barrier ids: [1, 3) holds executions a and b, [3, 5) c.
            try await TestDatabase.query("DROP TABLE \(schema.quoted).barrier_members_1")
            #expect(try await ensure(schema, width: 2) == 1)
            let (a, barrierA) = try await fixture.fanOut(3)
            let (b, barrierB) = try await fixture.fanOut(2)
            #expect(try await ensure(schema, width: 2) == 1)
            let (c, barrierC) = try await fixture.fanOut(2)
            #expect(try await ranges(schema) == ["1..<3", "3..<5"])
            #expect(try await partitions(of: barrierB, schema) == ["barrier_members_1"])
            #expect(try await partitions(of: barrierC, schema) == ["barrier_members_3"])
            try await completeEveryMember(fixture)

            // b is still running: [1, 3) stays, however old a is.
            try await finish(a, daysAgo: 10, fixture)
            #expect(try await dropExpired(schema).isEmpty)
            // b finished within the retention: it stays.
            try await finish(b, daysAgo: 3, fixture)
            #expect(try await dropExpired(schema).isEmpty)
            // A message of b left, waiting and then a dead letter: it stays even when b is past
            // the retention (the row sweep would keep b for it too).
            _ = try await fixture.members.send(OutgoingMessage(payload: .emptyObject, task: "t", executionID: b))
            #expect(try await dropExpired(schema, daysLater: 5).isEmpty)
            let stray = try await fixture.members.read(limit: 1)
            #expect(try await fixture.members.deadLetter(stray.map(\.lease), reason: "explicit").applied.count == 1)
            #expect(try await dropExpired(schema, daysLater: 5).isEmpty)
            try await TestDatabase.query("DELETE FROM \(schema.quoted).dead_letters WHERE execution_id = $1", [b])
            // Five days later, nothing of b left: the range goes with its five members, and what
            // sweep_executions deletes next is only the executions' own rows.
            #expect(try await dropExpired(schema, daysLater: 5) == ["barrier_members_1": 5])
            #expect(try await fixture.count("barrier_members", where: "barrier_id IN (\(barrierA), \(barrierB))") == 0)
            // [3, 5) holds a running execution, and id 4 is not handed out yet: it stays.
            #expect(try await dropExpired(schema, daysLater: 30).isEmpty)
            #expect(try await fixture.count("barrier_members", where: "barrier_id = \(barrierC)") == 2)

            // The reaper does both with its execution retention: c's range (c armed twice) goes through it.
            let (_, barrierD) = try await fixture.fanOut(1, execution: c, name: "stage2")
            #expect(barrierD == 4)
            try await completeEveryMember(fixture)
            try await finish(c, daysAgo: 40, fixture)
            let reaper = Reaper(client: fixture.client, options: ReaperOptions(executionRetention: .seconds(7 * 86_400)))
            let counts = try #require(try await reaper.sweepOnce())
            #expect(counts["partitions_dropped"] == 3, "\(counts)")
            #expect(counts["executions"] == 2, "a and c (b ended 3 days ago to the reaper's clock)")
            #expect(try await fixture.count("barrier_members") == 0)
            #expect(try await fixture.count("executions") == 1)
            #expect(try await ranges(schema).allSatisfy { !$0.hasPrefix("1..") && !$0.hasPrefix("3..") })
        }
    }

    /// sweep_executions deletes a swept execution's members row by row only outside the
    /// ranges (default, legacy): in a range they wait for the range's drop, which would
    /// otherwise find nothing left to take.
    @Test func theRowSweepLeavesMembersInARangeToItsDrop() async throws {
        try await OrchestrationFixture.with { fixture in
            let schema = fixture.schema
            try await TestDatabase.query("DROP TABLE \(schema.quoted).barrier_members_1")
            #expect(try await ensure(schema, width: 2) == 1)
            let (e, barrierE) = try await fixture.fanOut(2)
            let (g, barrierG) = try await fixture.fanOut(1)
            try await TestDatabase.query("ALTER TABLE \(schema.quoted).barriers ALTER COLUMN id RESTART WITH 100")
            let (f, barrierF) = try await fixture.fanOut(2)
            #expect(try await partitions(of: barrierE, schema) == ["barrier_members_1"])
            #expect(try await partitions(of: barrierF, schema) == ["barrier_members_default"])
            try await completeEveryMember(fixture)
            try await finish(e, daysAgo: 40, fixture)
            try await finish(f, daysAgo: 40, fixture)

            let reaper = Reaper(client: fixture.client, options: ReaperOptions(executionRetention: .seconds(7 * 86_400)))
            var counts = try #require(try await reaper.sweepOnce())
            #expect(counts["executions"] == 2 && counts["partitions_dropped"] == 0, "\(counts): g is running")
            #expect(try await fixture.count("barrier_members", where: "barrier_id = \(barrierE)") == 2, "left to the drop")
            #expect(try await fixture.count("barrier_members", where: "barrier_id = \(barrierF)") == 0, "deleted with f")

            try await finish(g, daysAgo: 40, fixture)
            counts = try #require(try await reaper.sweepOnce())
            #expect(counts["partitions_dropped"] == 3 && counts["executions"] == 1, "\(counts)")
            #expect(try await fixture.count("barrier_members", where: "barrier_id IN (\(barrierE), \(barrierG))") == 0)
        }
    }

    /// Dropping a range needs an exclusive lock, and completions of its members would queue
    /// behind a drop that waits: a range another session reads is skipped for 200 ms's worth.
    @Test func aRangeInUseIsSkippedUntilTheNextSweep() async throws {
        try await OrchestrationFixture.with { fixture in
            let schema = fixture.schema
            try await TestDatabase.query("DROP TABLE \(schema.quoted).barrier_members_1")
            #expect(try await ensure(schema, width: 1) == 1)
            let (execution, _) = try await fixture.fanOut(2)
            try await completeEveryMember(fixture)
            try await finish(execution, daysAgo: 10, fixture)
            let report = try await TestDatabase.connect()
            _ = try await report.query("BEGIN")
            _ = try await report.query("SELECT count(*) FROM \(schema.quoted).barrier_members")    // ACCESS SHARE until COMMIT
            #expect(try await dropExpired(schema).isEmpty)
            #expect(try await fixture.count("barrier_members") == 2)
            _ = try await report.query("COMMIT")
            await report.close()
            #expect(try await dropExpired(schema) == ["barrier_members_1": 2])
        }
    }

    @Test func badArgumentsAreRefusedAndChangeNothing() async throws {
        try await OrchestrationFixture.with { fixture in
            let s = fixture.schema.quoted
            let before = try await ranges(fixture.schema)
            for call in ["ensure_member_partitions(width => 0)", "ensure_member_partitions(width => 100000001)",
                         "member_partition_width('0 days')", "member_partition_width(NULL)",
                         "drop_expired_member_partitions(NULL)", "drop_expired_member_partitions('-1 day')",
                         "drop_expired_member_partitions('1 day', 'infinity')"] {
                let error = await #expect(throws: PostgresError.self) { try await TestDatabase.query("SELECT * FROM \(s).\(call)") }
                #expect(error?.sqlState == "MU003", "\(call)")
            }
            #expect(try await ranges(fixture.schema) == before)
            #expect(try await TestDatabase.query("SELECT * FROM \(s).maintain_history_partitions('nobody', 1, '1 day')").rows.isEmpty)
        }
    }

    /// An execution whose stages sit in two ranges (and the default partition): the member
    /// query of docs/sql-debugging.md, the timeline and the Swift lookups see them all.
    @Test func memberQueriesAnswerTheSameAcrossARangeBoundary() async throws {
        try await OrchestrationFixture.with { fixture in
            let schema = fixture.schema
            let s = schema.quoted
            let execution = try await fixture.newExecution()
            var barriers: [Int64] = []
            for stage in 0..<3 {
                let members = try (0..<4).map { FanOut.Member(key: "k\(stage)-\($0)", payload: try JSONPayload(json: "\($0)")) }
                barriers.append(try await fixture.client.barriers.fanOut(FanOut(
                    executionID: execution, name: "stage\(stage)", memberQueue: fixture.members.name, memberTask: "member",
                    members: members, callbackQueue: fixture.callbacks.name, callbackTask: "aggregate")).barrierID)
            }
            let messages = try await fixture.members.read(limit: 12)
            for message in messages where message.headers["muster-member"]?.hasSuffix("-0") == false {
                _ = try await fixture.client.barriers.complete(
                    queue: fixture.members.name, lease: message.lease, barrierID: Int64(message.headers["muster-barrier"]!)!,
                    memberKey: message.headers["muster-member"]!, result: try JSONPayload(json: "\"done\""))
            }
            let answer = try await memberAnswer(execution, schema)
            let timeline = try await TestDatabase.query("SELECT count(*) FROM \(s).execution_timeline($1)", [execution]).single().decode(0, as: Int.self)
            let remaining = try await barriers.asyncMap { try await fixture.barrier($0).remaining }
            #expect(answer.count == 12 && remaining == [1, 1, 1])

            // Split: each stage's members into their own range, the last into the default partition.
            for statement in [
                "ALTER TABLE \(s).barrier_members DETACH PARTITION \(s).barrier_members_1",
                "CREATE TABLE \(s).barrier_members_a PARTITION OF \(s).barrier_members FOR VALUES FROM (\(barriers[0])) TO (\(barriers[1]))",
                "CREATE TABLE \(s).barrier_members_b PARTITION OF \(s).barrier_members FOR VALUES FROM (\(barriers[1])) TO (\(barriers[2]))",
                "INSERT INTO \(s).barrier_members SELECT * FROM \(s).barrier_members_1",
                "DROP TABLE \(s).barrier_members_1",
            ] { try await TestDatabase.query(statement) }
            let spread = try await barriers.asyncMap { try await partitions(of: $0, schema) }
            #expect(spread == [["barrier_members_a"], ["barrier_members_b"], ["barrier_members_default"]])

            #expect(try await memberAnswer(execution, schema) == answer)
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(s).execution_timeline($1)", [execution]).single().decode(0, as: Int.self) == timeline)
            // The last member of each stage completes across the ranges and fires its barrier once.
            for message in messages where message.headers["muster-member"]?.hasSuffix("-0") == true {
                let outcome = try await fixture.client.barriers.complete(
                    queue: fixture.members.name, lease: message.lease, barrierID: Int64(message.headers["muster-barrier"]!)!,
                    memberKey: message.headers["muster-member"]!, result: nil)
                #expect(outcome.counted && outcome.fired)
            }
            #expect(try await fixture.callbackMessages() == 3)
            #expect(try await fixture.count("barrier_members", where: "status = 'succeeded'") == 12)
        }
    }

    @Test func upgradingKeepsEveryMemberInALegacyPartition() async throws {
        try await TestDatabase.withSchema { schema in
            let s = schema.quoted
            let configuration = try TestDatabase.configuration()
            try await Migrator(database: configuration, schema: schema, migrations: Array(Migration.bundled.prefix(18))).migrate()
            try await TestDatabase.query("INSERT INTO \(s).queues (name) VALUES ('jobs'), ('callbacks')")
            // Two executions as 0018 left them: one finished long ago, one still running.
            let old = try await TestDatabase.query("SELECT id FROM \(s).create_execution('p')").single().decode(0, as: UUID.self)
            let running = try await TestDatabase.query("SELECT id FROM \(s).create_execution('p')").single().decode(0, as: UUID.self)
            for (execution, size) in [(old, 3), (running, 2)] {
                try await TestDatabase.query("""
                    SELECT \(s).fan_out($1, 'stage', 'jobs', 'member',
                        ARRAY(SELECT 'm' || i FROM generate_series(1, $2) AS i),
                        ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, $2) AS i), 'callbacks', 'aggregate')
                    """, [execution, size])
            }
            try await TestDatabase.query("DELETE FROM \(s).messages WHERE execution_id = $1", [old])
            try await TestDatabase.query("UPDATE \(s).barrier_members SET status = 'succeeded', completed_at = now() WHERE barrier_id = 1")
            try await TestDatabase.query("SELECT \(s).transition_execution($1, 'completed')", [old])
            try await TestDatabase.query("UPDATE \(s).executions SET finished_at = now() - interval '20 days' WHERE id = $1", [old])
            func contents() async throws -> [String] {
                try await TestDatabase.query("SELECT row_to_json(m)::text FROM (SELECT * FROM \(s).barrier_members ORDER BY barrier_id, member_key) AS m")
                    .rows.map { try $0.decode(0) }
            }
            let before = try await contents()
            #expect(before.count == 5)

            let upgrade = try await Migrator(database: configuration, schema: schema).migrate().map(\.version)
            #expect(upgrade == Migration.bundled.dropFirst(18).map(\.version))
            #expect(try await contents() == before, "every row, every column")
            let kinds = try await TestDatabase.query(
                "SELECT partition::text || ':' || kind || ':' || coalesce(first_barrier::text, '') || ':' || coalesce(end_barrier::text, '') FROM \(s).member_partitions ORDER BY 1"
            ).rows.map { try $0.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? "" }
            #expect(kinds == ["barrier_members_3:range:3:1003", "barrier_members_default:default::",
                              "barrier_members_legacy:legacy::3"])

            // The running execution's members still complete (in the legacy partition), and the
            // legacy partition goes once both executions are swept.
            let client = try TestDatabase.client(schema: schema)
            defer { Task { await client.shutdown() } }
            let jobs = client.queue("jobs")
            for message in try await jobs.read(limit: 10) {
                let outcome = try await client.barriers.complete(
                    queue: jobs.name, lease: message.lease, barrierID: 2, memberKey: message.headers["muster-member"]!, result: nil)
                #expect(outcome.counted)
            }
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(s).barrier_members_legacy WHERE status = 'succeeded'").single().decode(0, as: Int.self) == 5)
            _ = try await TestDatabase.query("DELETE FROM \(s).messages WHERE queue = 'callbacks'")
            try await client.executions.transition(running, to: .completed)
            #expect(try await TestDatabase.query("SELECT partition FROM \(s).drop_expired_member_partitions('7 days', now() + interval '8 days')")
                .rows.map { try $0.decode(0, as: String.self).split(separator: ".").last.map(String.init) ?? "" } == ["barrier_members_legacy"])
        }
    }
}
