import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// `muster demo` as a user runs it: its verdict and summary agree with what the tables hold,
/// also under chaos, and the queries of docs/sql-debugging.md run against what it leaves.
/// Serialized: the demos are heavy, and run beside each other they would only slow each other.
@Suite(.serialized) struct DemoTests {
    /// The fields of the demo's `--json` summary (DemoSummary) these tests check.
    private struct Summary: Decodable {
        struct Chaos: Decodable, Equatable {
            var kills: Int
            var claimHolderKills: Int
            var leasesHeldByKilled: Int
            var terminations: Int
            var restarts: Int
        }

        var executions: Int
        var completed: Int
        var failed: Int
        var messages: Int
        var expectedMessages: Int
        var retries: Int
        var leaseLossWarnings: Int
        var deadLetters: Int
        var messagesLeft: Int
        var barriers: Int
        var barriersFinalized: Int
        var callbacks: Int
        var outputsMatching: Int
        var chaos: Chaos?
        var executionIDs: [UUID]
        var problems: [String]
    }

    /// What the tables hold for a set of executions, counted here, independently of the demo.
    private struct TableCounts {
        var completed: Int
        /// Rows in the archive (the demo queue archives on ack) by task.
        var archivedByTask: [String: Int]
        var archived: Int { archivedByTask.values.reduce(0, +) }
        /// Deliveries beyond each message's first, over the archive and dead letters.
        var retries: Int
        var deadLetters: Int
        var messagesLeft: Int
        var barriers: Int
        var barriersFinalized: Int
        /// Archived `…/aggregate` (callback) messages per barrier, in barrier order.
        var aggregatesPerBarrier: [Int]
        var members: Int
        var membersSucceeded: Int
    }

    private static let executions = 3
    private static let parts = 20
    /// Per execution: its start, a message per chunk, an aggregate, one per 10 chunks (documents), an aggregate.
    private static let archivedByTask = [
        "corpus/start": executions,
        "corpus/chunks/part": executions * parts,
        "corpus/chunks/aggregate": executions,
        "corpus/documents/part": executions * ((parts + 9) / 10),
        "corpus/documents/aggregate": executions,
    ]
    private static let expectedMessages = archivedByTask.values.reduce(0, +)

    private func demo(_ arguments: [String], schema: SchemaName) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(["demo"] + arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name])
    }

    /// The summary in the demo's output. Stdout (the JSON) and stderr (progress) arrive merged;
    /// the JSON is the text from the first line that is `{` to the last that is `}`.
    private func parseSummary(from output: String) throws -> Summary {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: "{"), "no JSON summary in the output:\n\(output)")
        let end = try #require(lines.lastIndex(of: "}"), "no end of the JSON summary in the output:\n\(output)")
        try #require(start < end, "no JSON summary in the output:\n\(output)")
        return try JSONDecoder().decode(Summary.self, from: Data(lines[start...end].joined(separator: "\n").utf8))
    }

    private func count(_ sql: String, _ ids: [UUID]) async throws -> Int {
        try await TestDatabase.query(sql, [ids]).single().decode(0, as: Int.self)
    }

    private func tableCounts(in schema: SchemaName, of ids: [UUID]) async throws -> TableCounts {
        let s = schema.quoted
        let ofIDs = "execution_id = ANY($1::uuid[])"
        let byTask = try await TestDatabase.query("SELECT coalesce(task, ''), count(*) FROM \(s).archive WHERE \(ofIDs) GROUP BY task", [ids])
        let aggregates = try await TestDatabase.query("""
            SELECT b.id, count(a.id)
            FROM \(s).barriers AS b
            LEFT JOIN \(s).archive AS a ON a.headers->>'muster-barrier' = b.id::text AND a.task LIKE '%/aggregate'
            WHERE b.\(ofIDs)
            GROUP BY b.id
            ORDER BY b.id
            """, [ids])
        return TableCounts(
            completed: try await count("SELECT count(*) FROM \(s).executions WHERE id = ANY($1::uuid[]) AND status = 'completed'", ids),
            archivedByTask: Dictionary(uniqueKeysWithValues: try byTask.rows.map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self)) }),
            retries: try await count("""
                SELECT coalesce(sum(greatest(read_ct - 1, 0)), 0)
                FROM (SELECT read_ct FROM \(s).archive WHERE \(ofIDs)
                      UNION ALL
                      SELECT read_ct FROM \(s).dead_letters WHERE \(ofIDs)) AS delivered
                """, ids),
            deadLetters: try await count("SELECT count(*) FROM \(s).dead_letters WHERE \(ofIDs)", ids),
            messagesLeft: try await count("SELECT count(*) FROM \(s).messages WHERE \(ofIDs)", ids),
            barriers: try await count("SELECT count(*) FROM \(s).barriers WHERE \(ofIDs)", ids),
            barriersFinalized: try await count("SELECT count(*) FROM \(s).barriers WHERE \(ofIDs) AND finalized_at IS NOT NULL", ids),
            aggregatesPerBarrier: try aggregates.rows.map { try $0.decode(1, as: Int.self) },
            members: try await count("""
                SELECT count(*) FROM \(s).barrier_members AS bm JOIN \(s).barriers AS b ON b.id = bm.barrier_id WHERE b.\(ofIDs)
                """, ids),
            membersSucceeded: try await count("""
                SELECT count(*) FROM \(s).barrier_members AS bm JOIN \(s).barriers AS b ON b.id = bm.barrier_id
                WHERE b.\(ofIDs) AND bm.status = 'succeeded'
                """, ids)
        )
    }

    @Test func demoWithThreeExecutionsOfTwentyPartsExitsZeroAndItsSummaryMatchesTheTables() async throws {
        try await TestDatabase.withSchema { schema in
            let result = try await demo(["--executions", "\(Self.executions)", "--parts", "\(Self.parts)", "--json", "--timeout", "2m"], schema: schema)
            #expect(result.status == 0, "\(result.output)")
            let summary = try parseSummary(from: result.output)
            #expect(summary.problems.isEmpty, "\(summary.problems)")
            #expect(summary.executions == Self.executions && summary.executionIDs.count == Self.executions)
            #expect(summary.chaos == nil)
            #expect(summary.leaseLossWarnings == 0)

            let tables = try await tableCounts(in: schema, of: summary.executionIDs)
            #expect(tables.completed == Self.executions)
            #expect(summary.completed == tables.completed && summary.failed == 0)
            #expect(tables.archivedByTask == Self.archivedByTask)
            #expect(summary.messages == tables.archived)
            #expect(summary.messages == Self.expectedMessages && summary.expectedMessages == Self.expectedMessages)
            #expect(summary.retries == tables.retries)
            #expect(summary.deadLetters == tables.deadLetters && tables.deadLetters == 0)
            #expect(summary.barriers == tables.barriers && tables.barriers == 2 * Self.executions)
            #expect(summary.barriersFinalized == tables.barriersFinalized && tables.barriersFinalized == tables.barriers)
            #expect(summary.callbacks == tables.barriers, "callback messages acked")
            #expect(tables.aggregatesPerBarrier == Array(repeating: 1, count: 2 * Self.executions), "archived aggregates per barrier")
            #expect(summary.outputsMatching == Self.executions)
            #expect(summary.messagesLeft == tables.messagesLeft && tables.messagesLeft == 0)

            // The schema now holds a finished demo: what docs/sql-debugging.md promises to answer.
            try await expectDocumentedQueriesRun(in: schema, executionIDs: summary.executionIDs)
            // Again with the history split across a day boundary (half of it in yesterday's
            // partition): the same rows are found.
            let s = schema.quoted
            func archivedOfTheRun() async throws -> Int {
                try await TestDatabase.query("SELECT count(*) FROM \(s).archive WHERE execution_id = ANY($1::uuid[])", [summary.executionIDs])
                    .single().decode(0)
            }
            let archived = try await archivedOfTheRun()
            try await TestDatabase.query("SELECT \(s).ensure_history_partitions(now() - interval '1 day', 1)")
            try await TestDatabase.query("UPDATE \(s).archive SET archived_at = archived_at - interval '1 day' WHERE id % 2 = 0")
            #expect(try await TestDatabase.query("SELECT count(DISTINCT tableoid) FROM \(s).archive").single().decode(0, as: Int.self) == 2)
            #expect(try await archivedOfTheRun() == archived)
            try await expectDocumentedQueriesRun(in: schema, executionIDs: summary.executionIDs)

            // And with the members split across two ranges of barrier ids: the documented member
            // query answers the same, row for row.
            func membersOfTheRun() async throws -> [String] {
                try await TestDatabase.query("""
                    SELECT row_to_json(x)::text FROM (
                        SELECT b.name AS barrier, bm.member_key, bm.status, bm.result, bm.error, bm.completed_at
                        FROM \(s).barrier_members AS bm JOIN \(s).barriers AS b ON b.id = bm.barrier_id
                        WHERE b.execution_id = ANY($1::uuid[]) ORDER BY b.id, bm.member_key) AS x
                    """, [summary.executionIDs]).rows.map { try $0.decode(0) }
            }
            let members = try await membersOfTheRun()
            let middle = try await TestDatabase.query("SELECT (min(id) + max(id)) / 2 + 1 FROM \(s).barriers").single().decode(0, as: Int64.self)
            for statement in [
                "ALTER TABLE \(s).barrier_members DETACH PARTITION \(s).barrier_members_1",
                "CREATE TABLE \(s).barrier_members_low PARTITION OF \(s).barrier_members FOR VALUES FROM (1) TO (\(middle))",
                "CREATE TABLE \(s).barrier_members_high PARTITION OF \(s).barrier_members FOR VALUES FROM (\(middle)) TO (1001)",
                "INSERT INTO \(s).barrier_members SELECT * FROM \(s).barrier_members_1",
                "DROP TABLE \(s).barrier_members_1",
            ] { try await TestDatabase.query(statement) }
            #expect(try await TestDatabase.query("SELECT count(DISTINCT tableoid) FROM \(s).barrier_members").single().decode(0, as: Int.self) == 2)
            #expect(try await membersOfTheRun() == members && members.count == tables.members)
            try await expectDocumentedQueriesRun(in: schema, executionIDs: summary.executionIDs)
        }
    }

    @Test func chaosDemoOnASmallSettingEndsCorrectWithNothingLost() async throws {
        try await TestDatabase.withSchema { schema in
            let result = try await demo(
                ["--chaos", "--executions", "\(Self.executions)", "--parts", "\(Self.parts)", "--json", "--timeout", "2m"], schema: schema
            )
            #expect(result.status == 0, "\(result.output)")
            let summary = try parseSummary(from: result.output)
            #expect(summary.problems.isEmpty, "\(summary.problems)")
            #expect(summary.outputsMatching == Self.executions)
            #expect(summary.deadLetters == 0 && summary.messagesLeft == 0)
            #expect(summary.messages == Self.expectedMessages)
            let chaos = try #require(summary.chaos, "no chaos counts in the summary")
            #expect(chaos.kills >= 1, "no worker process was killed")
            #expect(chaos.leasesHeldByKilled >= 1, "no killed worker held a lease")
            #expect(summary.callbacks == summary.barriers)
            #expect(chaos.terminations >= 1, "no connection was terminated")

            let tables = try await tableCounts(in: schema, of: summary.executionIDs)
            #expect(tables.completed == Self.executions)
            #expect(tables.barriers == 2 * Self.executions && tables.barriersFinalized == tables.barriers)
            #expect(tables.aggregatesPerBarrier == Array(repeating: 1, count: 2 * Self.executions), "archived aggregates per barrier")
            #expect(tables.archivedByTask == Self.archivedByTask)
            #expect(tables.messagesLeft == 0 && tables.deadLetters == 0)
            let members = Self.executions * (Self.parts + (Self.parts + 9) / 10)
            #expect(tables.members == members && tables.membersSucceeded == members)
        }
    }

    @Test func chaosDemoThroughServerRestartsWithTightSettingsFailsNoExecution() async throws {
        // The demo owns this server (the embedded one, in a directory of this test's), so its
        // chaos also restarts it: a fast shutdown, then an immediate one (crash recovery).
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-demo-\(UUID().uuidString.prefix(8))").path
        let result = try await ChildProcess.run(
            ["demo", "--embedded", "--chaos", "--visibility-timeout", "5s", "--max-attempts", "5",
             "--executions", "\(Self.executions)", "--parts", "\(Self.parts)", "--json", "--timeout", "3m"],
            environment: ["MUSTER_EMBEDDED_DIR": directory]
        )
        _ = try await ChildProcess.run(["embedded", "destroy", "--dir", directory])
        #expect(result.status == 0, "\(result.output)")
        let summary = try parseSummary(from: result.output)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.completed == Self.executions && summary.failed == 0, "no execution failed by faults")
        #expect(summary.outputsMatching == Self.executions)
        #expect(summary.messages == Self.expectedMessages && summary.deadLetters == 0 && summary.messagesLeft == 0)
        #expect(summary.callbacks == summary.barriers)
        let chaos = try #require(summary.chaos, "no chaos counts in the summary")
        #expect(chaos.restarts == 2, "a fast and an immediate restart")
        #expect(chaos.claimHolderKills >= 1, "no kill landed while a worker held an orchestration claim")
        #expect(chaos.kills >= chaos.claimHolderKills)
    }

    @Test func demoRefusesBadInputWithStatusTwo() async throws {
        try await TestDatabase.withSchema { schema in
            let cases = [
                (["--executions", "0"], "--executions"), (["--executions", "many"], "--executions"),
                (["--parts", "0"], "--parts"), (["--workers", "65"], "--workers"), (["--timeout", "soon"], "--timeout"),
                (["--max-attempts", "0"], "--max-attempts"), (["--visibility-timeout", "10ms"], "--visibility-timeout"),
            ]
            for (arguments, option) in cases {
                let result = try await demo(arguments, schema: schema)
                #expect(result.status == 2, "\(arguments): \(result.output)")
                let lines = result.output.split(separator: "\n")
                #expect(lines.first?.contains(option) == true, "\(arguments): \(result.output)")
                // The error, then at most a pointer to --help: no usage dump, no progress.
                #expect(lines.count <= 2, "\(arguments): \(result.output)")
            }
            // Refused before connecting: not even the schema was created.
            let left = try await TestDatabase.query(
                "SELECT to_regnamespace($1) IS NULL, to_regclass($2) IS NULL", [schema.quoted, "\(schema.quoted).executions"]
            ).single()
            #expect(try left.decode(0, as: Bool.self), "the schema was created")
            #expect(try left.decode(1, as: Bool.self), "the executions table was created")
        }
    }

    // MARK: - docs/sql-debugging.md

    /// Every ```sql block of docs/sql-debugging.md, with the heading of its section.
    private static func documentedQueries() throws -> [(heading: String, sql: String)] {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "docs/sql-debugging.md")
        let text = try String(contentsOf: path, encoding: .utf8)
        var queries: [(heading: String, sql: String)] = []
        var heading = "(before the first heading)"
        var block: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let fence = line.trimmingCharacters(in: .whitespaces)
            if let lines = block {
                if fence == "```" {
                    queries.append((heading, lines.joined(separator: "\n")))
                    block = nil
                } else {
                    block = lines + [line]
                }
            } else if line.hasPrefix("## ") {
                heading = String(line.dropFirst(3))
            } else if fence == "```sql" {
                block = []
            }
        }
        return queries
    }

    /// Runs each documented query against `schema` (in place of `muster`), with its psql
    /// variables set to real values of the run, and records every one that fails.
    private func expectDocumentedQueriesRun(in schema: SchemaName, executionIDs: [UUID]) async throws {
        let s = schema.quoted
        let execution = try #require(executionIDs.first)
        let message = try await TestDatabase.query(
            "SELECT min(id) FROM \(s).archive WHERE execution_id = ANY($1::uuid[])", [executionIDs]
        ).single().decode(0, as: Int64.self)
        let worker = try await TestDatabase.query("SELECT min(id) FROM \(s).workers").single().decodeIfPresent(0, as: String.self)
        // A failed execution to retry (the demo's all completed), started as a pipeline start records it.
        let failed = try await TestDatabase.query("SELECT id FROM \(s).create_execution('corpus')").single().decode(0, as: UUID.self)
        try await TestDatabase.query("SELECT \(s).record_start($1, 'demo', 'corpus/start', '{}')", [failed])
        try await TestDatabase.query("SELECT \(s).fail_execution($1, 'failed for the retry example')", [failed])
        let variables = [
            "execution_id": execution.uuidString.lowercased(),
            "failed_execution_id": failed.uuidString.lowercased(),
            "message_id": String(message),
            "worker_id": worker ?? "nobody:1:none",
            "queue": "demo",
        ]

        let queries = try Self.documentedQueries()
        #expect(queries.count >= 10, "only \(queries.count) sql blocks in docs/sql-debugging.md")
        var failures: [String] = []
        for query in queries {
            var sql = query.sql.replacingOccurrences(of: "muster.", with: "\(s).")
            for (name, value) in variables {
                sql = sql.replacingOccurrences(of: ":'\(name)'", with: "'" + value.replacingOccurrences(of: "'", with: "''") + "'")
            }
            guard !sql.contains(":'") else {
                failures.append("\(query.heading): a psql variable this test does not set:\n\(sql)")
                continue
            }
            do {
                try await TestDatabase.query(sql)
            } catch {
                failures.append("\(query.heading): \(String(reflecting: error))")
            }
        }
        #expect(failures.isEmpty, "documented queries that fail:\n\(failures.joined(separator: "\n"))")
    }
}
