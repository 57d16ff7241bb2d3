import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The queue commands of the `muster` binary, as a script or an on-call engineer uses them.
@Suite struct QueueCLITests {
    private func muster(_ arguments: [String], schema: SchemaName, input: String = "/dev/null") async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name], input: input)
    }

    @Test func sendReadAckRoundTripAndLostLeaseExitsThree() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "cli-q", "--visibility-timeout", "30s"], schema: schema).status == 0)
            let sent = try await muster(["send", "cli-q", #"{"hello": "world"}"#, "--task", "greet", "--dedup-key", "k1"], schema: schema)
            #expect(sent.status == 0)
            let id = try #require(Int64(sent.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let again = try await muster(["send", "cli-q", #"{"hello": "world"}"#, "--dedup-key", "k1"], schema: schema)
            #expect(again.output.contains("duplicate"))

            let read = try await muster(["read", "cli-q", "--json"], schema: schema)
            #expect(read.status == 0)
            let leases = try JSONSerialization.jsonObject(with: Data(read.output.utf8)) as? [[String: Any]]
            #expect(leases?.first?["id"] as? Int == Int(id))
            #expect(leases?.first?["readCount"] as? Int == 1)
            #expect((leases?.first?["payload"] as? [String: String])?["hello"] == "world")

            try await TimeTravel(schema: schema).expireLeases(on: "cli-q")
            _ = try await muster(["read", "cli-q"], schema: schema)  // re-delivers: read count 2
            let stale = try await muster(["ack", "cli-q", "\(id)", "--read-count", "1"], schema: schema)
            #expect(stale.status == 3)
            #expect(stale.output.contains("lease lost"))
            let fresh = try await muster(["ack", "cli-q", "\(id)", "--read-count", "2"], schema: schema)
            #expect(fresh.status == 0)

            let list = try await muster(["queue", "list", "--json"], schema: schema)
            let queues = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]
            #expect(queues?.first?["name"] as? String == "cli-q")
        }
    }

    @Test func badInputExitsTwoWithOneLine() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "q"], schema: schema).status == 0)
            for arguments in [["send", "q", "{not json"], ["send", "nosuchqueue", "{}"], ["read", "q", "--limit", "0"],
                              ["send", "q", "{}", "--delay", "soon"], ["queue", "create", "bad name"],
                              ["send", "q", #"{"k":"\u0000"}"#], ["send", "q", "\u{FEFF}{}"],
                              ["read", "q", "--limit", "-1"], ["send", "q", "{}", "--delay", "-5s"]] {
                let result = try await muster(arguments, schema: schema)
                #expect(result.status == 2, "\(arguments): \(result.output)")
                #expect(!result.output.isEmpty)
                #expect(!result.output.contains("Missing value"), "a negative value is a value: \(result.output)")
            }
            let count = try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).messages").single().decode(0, as: Int.self)
            #expect(count == 0)
        }
    }

    @Test func reservedSchemasAreRefusedAndNothingIsInstalledThere() async throws {
        for schema in ["information_schema", "pg_catalog", "pg_muster"] {
            let result = try await ChildProcess.run(["migrate", "--database-url", try TestDatabase.url(), "--schema", schema])
            #expect(result.status == 2, "\(schema): \(result.output)")
            #expect(result.output.contains("reserved"))
        }
        let installed = try await TestDatabase.query("SELECT to_regclass('information_schema.schema_migrations') IS NOT NULL").single().decode(0, as: Bool.self)
        #expect(!installed)
        let created = try await TestDatabase.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'pg_muster'").single().decode(0, as: Int.self)
        #expect(created == 0)
    }

    @Test func aMalformedDatabaseURLsErrorNeverShowsItsPassword() async throws {
        for url in ["postgres://app:SuperSecret42@[::1", "postgres://app:Super%ZZSecret42@127.0.0.1:5432/demo", "host=db password=SuperSecret42 nonsense"] {
            let result = try await ChildProcess.run(["status", "--database-url", url])
            #expect(result.status != 0)
            #expect(result.output.contains("invalid connection string"), "\(result.output)")
            #expect(!result.output.contains("Secret42"), "\(result.output)")
        }
    }

    /// An argument the parser refuses gets one line: what was wrong, the rule it broke, and
    /// the help of the subcommand that was run; echoed values have their control characters
    /// and newlines escaped.
    @Test func argumentErrorsNameTheirRuleAndTheHelpOnOneLine() async throws {
        let cases: [([String], [String])] = [
            (["send", "q", "{}", "--delay", "soon"], ["durations look like 500ms, 30s, 5m, 2h or 7d", "see 'muster send --help'"]),
            (["send", "q", "{}", "--delay", "-5s"], ["durations must be positive"]),
            (["queue", "create", "bad name"], ["queue names are 1-64 letters, digits, _, - or .", "see 'muster queue create --help'"]),
            (["execution", "show", "not-a-uuid"], ["execution ids are UUIDs", "see 'muster execution show --help'"]),
            (["send"], ["Missing expected argument '<queue>'", "see 'muster send --help'"]),
            (["queue", "frob"], ["Unexpected argument 'frob'", "see 'muster queue --help'"]),
            (["send", "q", "{}", "--delay", "1\u{1B}[2J\nforged line"], ["1\\u{1B}[2J\\nforged line"]),
        ]
        for (arguments, expected) in cases {
            let result = try await ChildProcess.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.output)")
            let lines = result.output.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(lines.count == 1, "\(arguments): \(result.output)")
            for text in expected { #expect(result.output.contains(text), "\(arguments): \(result.output)") }
        }
    }

    /// The missing-schema hint names how the command connected: after `--embedded`, the fix
    /// is `muster migrate --embedded`, which reaches the same server.
    @Test func missingSchemaHintNamesEmbeddedWhenConnectedSo() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-hint-\(UUID().uuidString.prefix(8))").path
        let environment = ["MUSTER_EMBEDDED_DIR": directory]
        let result = try await ChildProcess.run(["status", "--embedded", "--schema", "not_here"], environment: environment)
        #expect(try await ChildProcess.run(["embedded", "destroy", "--dir", directory]).status == 0)
        #expect(result.status == 1)
        #expect(result.output.contains("run `muster migrate --embedded --schema not_here`"), "\(result.output)")
        let direct = try await ChildProcess.run(["status", "--database-url", try TestDatabase.url(), "--schema", "not_here"])
        #expect(direct.output.contains("run `muster migrate --schema not_here`"), "\(direct.output)")
    }

    /// Settings libpq refuses before it tries a server are bad input (exit 2), not an outage
    /// (exit 1); the password is not shown either.
    @Test func connectionSettingsLibpqRefusesExitTwo() async throws {
        for url in ["postgresql://app:SuperSecret42@127.0.0.1:5/db?sslmode=bogus", "host=127.0.0.1 port=abc password=SuperSecret42",
                    "host=a,b port=1,2,3", "postgresql://app:SuperSecret42@127.0.0.1:5/db?target_session_attrs=nope",
                    "postgresql://app:SuperSecret42@127.0.0.1:5/db?connect_timeout=zz"] {
            let result = try await ChildProcess.run(["status", "--database-url", url])
            #expect(result.status == 2, "\(url): \(result.output)")
            #expect(result.output.hasPrefix("muster: invalid connection string:"), "\(result.output)")
            #expect(!result.output.contains("Secret42"), "\(result.output)")
        }
        // Nothing listening is an outage, not bad input.
        #expect(try await ChildProcess.run(["status", "--database-url", "postgresql://app@127.0.0.1:1/db"]).status == 1)
    }

    @Test func controlCharactersFromMessagesAreEscapedInTablesButExactInJSON() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "esc", "--max-attempts", "1"], schema: schema).status == 0)
            let task = "x\u{1B}[31mRED\u{1B}[0m"
            let sent = try await muster(["send", "esc", "{}", "--task", task], schema: schema)
            let id = try #require(Int64(sent.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let read = try await muster(["read", "esc"], schema: schema)
            #expect(read.status == 0)
            #expect(!read.output.contains("\u{1B}"), "\(read.output)")
            #expect(read.output.contains("x\\u{1B}[31mRED"))
            let release = try await muster(["release", "esc", "\(id)", "--read-count", "1", "--error", "boom\u{1B}[2J\nsecond line"], schema: schema)
            #expect(release.status == 0, "\(release.output)")
            _ = try await muster(["read", "esc"], schema: schema)      // past max attempts: dead-lettered
            let dead = try await muster(["dead-letters", "list", "esc"], schema: schema)
            #expect(dead.status == 0)
            #expect(!dead.output.contains("\u{1B}"), "\(dead.output)")
            #expect(!dead.output.split(separator: "\n").contains { $0.hasPrefix("second line") }, "no row can be faked")
            let json = try await muster(["dead-letters", "list", "esc", "--json"], schema: schema)
            let letters = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
            #expect(letters?.first?["task"] as? String == task, "JSON keeps the text exact")
        }
    }

    @Test func purgeAndDeleteRefuseToDestroyMoreThanTheySayUnlessForced() async throws {
        try await QueueFixture.with { fixture in
            let (client, schema, queue) = (fixture.client, fixture.schema, fixture.queue)
            // A waiting message of a running execution: purging it would leave the execution
            // waiting forever.
            let execution = try await client.executions.create(pipeline: "p").id
            try await client.executions.transition(execution, to: .running)
            try await queue.send(OutgoingMessage(payload: .emptyObject, task: "part", executionID: execution))
            try await queue.send(OutgoingMessage(payload: .emptyObject, task: "loose"))
            let refused = try await muster(["queue", "purge", "jobs"], schema: schema)
            #expect(refused.status == 2, "\(refused.output)")
            #expect(refused.output.contains("1 waiting messages of 1 open executions"), "\(refused.output)")
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).messages").single().decode(0, as: Int.self) == 2)
            let forced = try await muster(["queue", "purge", "jobs", "--force"], schema: schema)
            #expect(forced.status == 0)
            #expect(forced.output.contains("purged 2 messages"))
            #expect(forced.output.contains("1 of them belonged to 1 open executions"))

            // A dead letter: deleting the queue would delete it too.
            let dying = try await queue.send(OutgoingMessage(payload: .emptyObject, task: "x"))
            let leased = try await queue.read()
            _ = try await queue.deadLetter(leased.map(\.lease), reason: "test")
            #expect(leased.first?.id == dying.id)
            let kept = try await muster(["queue", "delete", "jobs"], schema: schema)
            #expect(kept.status == 2, "\(kept.output)")
            #expect(kept.output.contains("0 messages, 1 dead letters and 0 archived messages"), "\(kept.output)")
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).dead_letters").single().decode(0, as: Int.self) == 1)
            let deleted = try await muster(["queue", "delete", "jobs", "--force"], schema: schema)
            #expect(deleted.status == 0, "\(deleted.output)")
            #expect(deleted.output.contains("deleted queue jobs with 0 messages, 1 dead letters and 0 archived messages"))
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).dead_letters").single().decode(0, as: Int.self) == 0)
            #expect(try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).queues").single().decode(0, as: Int.self) == 0)
        }
    }

    @Test func payloadsComeFromStandardInputOrAFileUpToTheQueuesLimit() async throws {
        try await QueueFixture.with { fixture in
            // 900 KiB: far past what one argv argument may carry (128 KiB), under the 1 MiB limit.
            let big = #"{"blob":""# + String(repeating: "x", count: 900 * 1024) + #""}"#
            let file = FileManager.default.temporaryDirectory.appending(path: "muster-payload-\(UUID().uuidString).json").path
            try big.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let fromFile = try await muster(["send", "jobs", "@\(file)"], schema: fixture.schema)
            #expect(fromFile.status == 0, "\(fromFile.output)")
            let fromStdin = try await muster(["send", "jobs", "-"], schema: fixture.schema, input: file)
            #expect(fromStdin.status == 0, "\(fromStdin.output)")
            let sizes = try await TestDatabase.query("SELECT octet_length(payload::text) FROM \(fixture.schema.quoted).messages").rows.map { try $0.decode(0, as: Int.self) }
            #expect(sizes.count == 2 && sizes.allSatisfy { $0 > 900 * 1024 })
            let missing = try await muster(["send", "jobs", "@/nonexistent/payload.json"], schema: fixture.schema)
            #expect(missing.status == 2 && missing.output.contains("cannot read the payload file"))
            try await fixture.client.updateQueue("jobs", settings: QueueSettings(maxPayloadBytes: 1000))
            let tooBig = try await muster(["send", "jobs", "-"], schema: fixture.schema, input: file)
            #expect(tooBig.status == 2, "\(tooBig.output)")
        }
    }

    @Test func migrateCheckGatesOnAFullyAppliedSchema() async throws {
        try await TestDatabase.withSchema { schema in
            let empty = try await muster(["migrate", "--check"], schema: schema)
            #expect(empty.status == 1)
            #expect(empty.output.contains("\(Migration.bundled.count) pending"), "\(empty.output)")
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            let current = try await muster(["migrate", "--check"], schema: schema)
            #expect(current.status == 0, "\(current.output)")
            #expect(current.output.contains("is current"))
            try await TestDatabase.query("UPDATE \(schema.quoted).schema_migrations SET checksum = 'edited' WHERE version = 1")
            let modified = try await muster(["migrate", "--check"], schema: schema)
            #expect(modified.status == 1)
            #expect(modified.output.contains("1 modified"), "\(modified.output)")
        }
    }

    @Test func versionNamesTheReleaseAndTheSchemaItExpects() async throws {
        let result = try await ChildProcess.run(["--version"])
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "muster \(MusterVersion.current) (schema \(Migration.bundled.count))")
    }

    @Test func emptyLooksAreExplainedAndUnknownQueuesAreErrors() async throws {
        try await QueueFixture.with { fixture in
            let unknown = try await muster(["dead-letters", "list", "nosuchqueue"], schema: fixture.schema)
            #expect(unknown.status == 2, "\(unknown.output)")
            #expect(unknown.output.contains("nosuchqueue"))
            let none = try await muster(["dead-letters", "list", "jobs"], schema: fixture.schema)
            #expect(none.status == 0, "an existing queue without dead letters lists none")
            try await fixture.queue.send(OutgoingMessage(payload: .emptyObject))
            #expect(try await muster(["queue", "pause", "jobs"], schema: fixture.schema).status == 0)
            let paused = try await muster(["read", "jobs"], schema: fixture.schema)
            #expect(paused.status == 0)
            #expect(paused.output.contains("queue jobs is paused"), "\(paused.output)")
            let fast = try await muster(["status", "--watch", "--interval", "50ms"], schema: fixture.schema)
            #expect(fast.status == 2, "\(fast.output)")
            #expect(fast.output.contains("at least 100ms"))
        }
    }

    /// Pausing changes only `paused` (the CLI and the dashboard both call it), so it never
    /// undoes a settings change made meanwhile; an unknown queue is an error that changes nothing.
    @Test func pausingAndResumingChangeNoOtherSetting() async throws {
        try await QueueFixture.with(settings: QueueSettings(maxAttempts: 7)) { fixture in
            #expect(try await muster(["queue", "pause", "jobs"], schema: fixture.schema).status == 0)
            let paused = try await fixture.client.settings(of: "jobs")
            #expect(paused.paused && paused.maxAttempts == 7)
            try await fixture.client.setPaused(false, queue: "jobs")
            let resumed = try await fixture.client.settings(of: "jobs")
            #expect(!resumed.paused && resumed.maxAttempts == 7)
            await #expect(throws: MusterError.self) { try await fixture.client.setPaused(true, queue: "nosuchqueue") }
            #expect(try await muster(["queue", "pause", "nosuchqueue"], schema: fixture.schema).status != 0)
            #expect(try await fixture.count("queues") == 1)
        }
    }

    @Test func executionWaitFailsAtOnceWhenTheDatabaseCannotBeReached() async throws {
        // Port 1 refuses: waiting the whole timeout would not help.
        let result = try await ChildProcess.run([
            "execution", "wait", UUID().uuidString, "--timeout", "60s", "--database-url", "postgres://postgres@127.0.0.1:1/postgres",
        ])
        #expect(result.status == 1, "\(result.output)")
        #expect(!result.output.contains("after"), "it failed at once rather than after its timeout: \(result.output)")
        #expect(result.output.contains("127.0.0.1"), "\(result.output)")
    }
}

extension QueueCLITests {
    /// JSON output is exact and complete: payloads come back as the JSON they were sent as
    /// (any depth PostgreSQL stores, every digit of a number), absent values are `null`,
    /// nothing is `[]`, timestamps have milliseconds like the tables, and `dead-letters show`
    /// takes `--json` like the other commands.
    @Test func jsonOutputIsExactAndComplete() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "j", "--max-attempts", "1"], schema: schema).status == 0)
            let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
            #expect(try await muster(["send", "j", deep], schema: schema).status == 0, "the library accepts what jsonb stores")
            let deeper = String(repeating: "[", count: 2_000) + String(repeating: "]", count: 2_000)
            _ = try await TestDatabase.query("SELECT \(schema.quoted).send('j', $1::jsonb)", [deeper])
            #expect(try await muster(["send", "j", #"{"n": 12345678901234567890123.5, "s": "x"}"#], schema: schema).status == 0)

            let read = try await muster(["read", "j", "--limit", "10", "--json"], schema: schema)
            #expect(read.status == 0)
            #expect(read.output.contains(": " + deep) && read.output.contains(": " + deeper), "payloads embedded as JSON, not strings")
            #expect(read.output.contains("12345678901234567890123.5"))
            #expect(read.output.contains(#""lastError" : null"#) && read.output.contains(#""task" : null"#))
            #expect(read.output.range(of: #""enqueuedAt" : "[0-9-]+T[0-9:]+\.[0-9]{3}Z""#, options: .regularExpression) != nil)
            #expect(try await muster(["queue", "create", "empty"], schema: schema).status == 0)
            #expect(try await muster(["read", "empty", "--json"], schema: schema).output.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")

            // The library's records too: every key, null when absent.
            try await TestDatabase.query("SELECT \(schema.quoted).worker_heartbeat('w1', 'host', 1, '{j}', 1, 0)")
            let workers = try await muster(["workers", "--json"], schema: schema)
            #expect(workers.output.contains(#""stoppedAt" : null"#) && workers.output.contains(#""oldestLeaseSeconds" : null"#), "\(workers.output)")
            #expect(workers.output.range(of: #""startedAt" : "[0-9-]+T[0-9:]+\.[0-9]{3}Z""#, options: .regularExpression) != nil)
            let status = try await muster(["status", "--json"], schema: schema)
            let parsed = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
            let queue = try #require((parsed?["queues"] as? [[String: Any]])?.first { $0["queue"] as? String == "empty" })
            #expect(queue["oldestReadyAgeSeconds"] is NSNull, "no ready message: null, not 0")

            // A dead letter (max attempts 1, its lease expired): shown as a table, or as JSON.
            _ = try await TestDatabase.query("UPDATE \(schema.quoted).messages SET visible_at = now() - interval '1 second'")
            _ = try await muster(["read", "j", "--limit", "10"], schema: schema)
            let id = try await TestDatabase.query("SELECT min(id) FROM \(schema.quoted).dead_letters").single().decode(0, as: Int64.self)
            let human = try await muster(["dead-letters", "show", "j", "\(id)"], schema: schema)
            #expect(human.status == 0 && human.output.contains("reason") && human.output.contains("max_attempts"))
            let shown = try await muster(["dead-letters", "show", "j", "\(id)", "--json"], schema: schema)
            #expect(shown.status == 0 && shown.output.contains(#""payload" : "#) && shown.output.contains(#""lastError" : null"#))
        }
    }
}
