import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// `muster status`, `execution show` and `workers` against a schema with finished, open and
/// failed executions: their JSON must say what the tables say. And the errors an operator
/// meets first: no schema, an outdated schema, an unknown execution.
@Suite struct InspectionCLITests {
    private func muster(_ arguments: [String], schema: SchemaName) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name])
    }

    /// The JSON document in a command's output (stderr is merged into it).
    private func json(_ output: String) throws -> [String: Any] {
        let start = try #require(output.firstIndex(of: "{"))
        return try #require(try JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any])
    }

    private func count(_ schema: SchemaName, _ sql: String, _ parameters: [(any PostgresEncodable)?] = []) async throws -> Int {
        try await TestDatabase.query(sql.replacingOccurrences(of: "$schema", with: schema.quoted), parameters).single().decode(0)
    }

    @Test func statusAndExecutionShowJSONAgreeWithTheTables() async throws {
        let settings = QueueSettings(maxAttempts: 2, retryBackoffBase: .milliseconds(10), retryBackoffMax: .milliseconds(20))
        try await QueueFixture.with(settings: settings) { fixture in
            let schema = fixture.schema
            let client = fixture.client
            let good = PipelineTests.squaresThenSums(queue: fixture.queue.name, runs: .init([:]))
            let bad = PipelineTests.squaresThenSums(queue: fixture.queue.name, runs: .init([:]), failIndex: 1)
            let done = try await client.start(good, input: .init(id: 1, parts: 12))
            var worker = Worker(client: client, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            try worker.register(good)
            try await run(worker, until: "the execution completed") { try await done.status().status == .completed }
            // Failing parts, then an execution nobody works on (its start message waits).
            let failed = try await client.start(bad, input: .init(id: 2, parts: 3))
            var failing = Worker(client: client, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            try failing.register(bad)
            try await run(failing, until: "the execution failed") { try await failed.status().status == .failed }
            let open = try await client.start(good, input: .init(id: 3, parts: 5))

            let status = try await muster(["status", "--json"], schema: schema)
            #expect(status.status == 0, "\(status.output)")
            let document = try json(status.output)
            let executions = try #require(document["executions"] as? [String: Int])
            #expect(executions["completed"] == (try await count(schema, "SELECT count(*) FROM $schema.executions WHERE status = 'completed'")))
            #expect(executions["failed"] == 1 && executions["pending"] == 1)
            let openIDs = (document["open"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(openIDs == [open.id.uuidString.lowercased()])
            let queues = try #require(document["queues"] as? [[String: Any]])
            let jobs = try #require(queues.first { $0["queue"] as? String == "jobs" })
            #expect(jobs["ready"] as? Int == (try await count(schema, "SELECT count(*) FROM $schema.messages WHERE state = 'ready'")))
            #expect(jobs["dead"] as? Int == (try await count(schema, "SELECT count(*) FROM $schema.dead_letters")))
            let workers = try #require(document["workers"] as? [[String: Any]])
            #expect(workers.count == (try await count(schema, "SELECT count(*) FROM $schema.workers")))

            let show = try await muster(["execution", "show", done.id.uuidString, "--json"], schema: schema)
            #expect(show.status == 0, "\(show.output)")
            let report = try json(show.output)
            let execution = try #require(report["execution"] as? [String: Any])
            #expect(execution["status"] as? String == "completed")
            #expect((execution["output"] as? [String: Any])?["total"] as? Int == PipelineTests.expected(.init(id: 1, parts: 12)).total)
            let barriers = try #require(report["barriers"] as? [[String: Any]])
            #expect(barriers.map { $0["name"] as? String } == ["square", "sum"])
            #expect(barriers.map { $0["expected"] as? Int } == [12, 2])
            #expect(barriers.count == (try await count(schema, "SELECT count(*) FROM $schema.barriers WHERE execution_id = $1", [done.id])))
            let timeline = try #require(report["timeline"] as? [[String: Any]])
            #expect(timeline.count == (try await count(schema, "SELECT count(*) FROM $schema.execution_timeline($1)", [done.id])))
            #expect(timeline.last?["event"] as? String == "completed")

            let failedReport = try json(try await muster(["execution", "show", failed.id.uuidString, "--json"], schema: schema).output)
            let letters = try #require(failedReport["deadLetters"] as? [[String: Any]])
            #expect(letters.count == (try await count(schema, "SELECT count(*) FROM $schema.dead_letters WHERE execution_id = $1", [failed.id])))
            #expect(letters.count == 1 && letters.first?["reason"] as? String == "max_attempts")

            let openReport = try json(try await muster(["execution", "show", open.id.uuidString, "--json"], schema: schema).output)
            #expect((openReport["reason"] as? String)?.isEmpty == false)

            let human = try await muster(["execution", "show", done.id.uuidString], schema: schema)
            #expect(human.status == 0 && human.output.contains("Timeline") && human.output.contains("square"))
            let list = try await muster(["executions", "list", "--status", "failed", "--json"], schema: schema)
            #expect(list.status == 0 && list.output.contains(failed.id.uuidString.lowercased()))

            let cancel = try await muster(["execution", "cancel", open.id.uuidString, "--reason", "not needed"], schema: schema)
            #expect(cancel.status == 0 && cancel.output.contains("1 waiting messages removed"), "\(cancel.output)")
            #expect(try await open.status().status == .canceled)
            #expect(try await muster(["execution", "cancel", open.id.uuidString], schema: schema).status == 1)
        }
    }

    @Test func unknownExecutionExitsTwoWithOneLineLikeAnUnknownQueue() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            let unknown = try await muster(["execution", "show", UUID().uuidString], schema: schema)
            #expect(unknown.status == 2)
            #expect(unknown.output.contains("does not exist") && unknown.output.split(separator: "\n").count == 1)
            let malformed = try await muster(["execution", "show", "not-an-id"], schema: schema)
            #expect(malformed.status == 2)
        }
    }

    @Test func aDatabaseWithoutTheSchemaSaysToRunMigrate() async throws {
        try await TestDatabase.withSchema { schema in
            for command in [["status"], ["workers"], ["executions", "list"]] {
                let result = try await muster(command, schema: schema)
                #expect(result.status == 1, "\(command)")
                #expect(result.output.contains("run `muster migrate --schema \(schema.name)`"), "\(command): \(result.output)")
            }
        }
    }

    @Test func workersRefuseASchemaOlderThanTheirBinaryNamingBothVersions() async throws {
        try await TestDatabase.withSchema { schema in
            let older = Array(Migration.bundled.dropLast())
            try await Migrator(database: try TestDatabase.configuration(), schema: schema, migrations: older).migrate()
            let client = try TestDatabase.client(schema: schema)
            defer { Task { await client.shutdown() } }
            let worker = Worker(client: client, queue: "jobs")
            let error = await #expect(throws: MusterError.self) { try await worker.run() }
            #expect(error?.code == .schemaOutdated)
            let have = try #require(older.last?.version), need = try #require(Migration.bundled.last?.version)
            #expect(error?.message.contains("at version \(have)") == true && error?.message.contains("needs \(need)") == true)

            let missing = try await ChildProcess.run(["demo-worker", "--database-url", try TestDatabase.url(), "--schema", "no_such_schema"])
            #expect(missing.status == 1 && missing.output.contains("run `muster migrate"))
        }
    }

    @Test func embeddedStatusOfAStoppedServerExitsOneNotTheLostLeaseCode() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-embedded-\(UUID().uuidString)").path
        let result = try await ChildProcess.run(["embedded", "status", "--dir", directory])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("not running"))
    }

    @Test(arguments: [
        "demo", "status", "executions list", "execution show", "execution wait", "execution cancel", "execution retry", "workers", "migrate",
        "queue create", "queue update", "queue list", "queue show", "queue pause", "queue resume", "queue purge", "queue delete",
        "send", "read", "ack", "archive", "release", "dead-letters list", "dead-letters show", "dead-letters requeue",
        "dead-letters purge", "embedded start", "embedded status", "embedded stop", "embedded destroy", "reaper",
    ])
    func everyLeafCommandsHelpHasAnExample(_ command: String) async throws {
        let result = try await ChildProcess.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("Example"), "muster \(command) --help has no example")
    }
}

extension InspectionCLITests {
    /// Options say their default and their range in `--help` (those with one).
    @Test(arguments: [
        ("queue create", ["100ms to 12h (new queues: 30s)", "1 to 1000 (new queues: 5)", "up to 7d (new queues: 5m)", "(new queues: 1048576)"]),
        ("queue update", ["(new queues: 30s)"]),
        ("queue", ["delete"]),
        ("reaper", ["100ms to 1h (default 15s)", "(default 5s)", "(default 7d)", "(default 30d)"]),
        ("dead-letters list", ["1-10000", "default: 50"]),
        ("read", ["1-1000", "default: 1", "(default: return at once)"]),
        ("send", ["(default: visible at once)", "-32768 to 32767", "default: 0"]),
        ("executions list", ["(1-10000)", "default: 50", "(default: all)"]),
        ("execution wait", ["default: 1h", "4 failed or canceled", "5 still pending"]),
        ("status", ["at least 100ms", "default: 2s"]),
        ("embedded start", ["10 to 10000", "default: 200"]),
        ("demo", ["1 to 10000", "1 to 64", "1s to 12h"]),
    ])
    func optionsShowTheirDefaultsAndRanges(_ command: String, _ expected: [String]) async throws {
        let result = try await ChildProcess.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0)
        let text = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for phrase in expected {
            #expect(text.contains(phrase), "muster \(command) --help does not say \(phrase)")
        }
    }
}
