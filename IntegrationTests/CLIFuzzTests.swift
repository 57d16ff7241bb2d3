import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// A seeded fuzz run of the `muster` command line: valid invocations of every everyday
/// command, mutated (arguments replaced by hostile values, dropped, repeated, swapped, stray
/// options added). Every run must end by itself with a documented exit status (0-5), never a
/// crash, signal or stack trace; a refused run prints one line and changes no row; no
/// password given on the command line is ever printed.
@Suite struct CLIFuzzTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["MUSTER_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0xC11_F022
    static let invocations = 1_000
    static let lanes = 4
    static let secret = "Secr3tPassw0rd"

    @Test func mutatedInvocationsEndCleanlyAndRefusalsChangeNothing() async throws {
        let findings = try await withThrowingTaskGroup(of: [String].self) { group in
            for lane in 0..<Self.lanes {
                group.addTask { try await Self.runLane(lane) }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(findings.isEmpty, "seed \(Self.seed):\n\(findings.prefix(25).joined(separator: "\n"))")
    }

    /// One lane: its own schema (so row counts before and after a refused run are its own),
    /// `invocations / lanes` runs one after the other.
    static func runLane(_ lane: Int) async throws -> [String] {
        try await TestDatabase.withSchema { schema in
            let fixture = try await LaneFixture.make(schema)
            defer { Task { await fixture.client.shutdown(); await fixture.counter.close() } }
            var random = SeededRandom(seed: seed &+ UInt64(lane) &* 0x9E37_79B9)
            var findings: [String] = []
            for run in 0..<(invocations / lanes) {
                if run % 50 == 0 { try await fixture.reseed() }
                let arguments = mutate(random.pick(fixture.corpus), &random)
                let before = try await fixture.rowCounts()
                let (status, output) = try await runBounded(arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name])
                let shown = arguments.map { String(String(reflecting: $0).prefix(60)) }
                func finding(_ what: String) { findings.append("lane \(lane) run \(run) \(shown): \(what): \(output.prefix(300))") }
                guard let status else { finding("did not end within 30 s"); continue }
                if !(0...5).contains(status) { finding("exit status \(status)") }
                if ["Fatal error", "Stack dump", "Backtrace", "Segmentation fault", "Illegal instruction"].contains(where: output.contains) {
                    finding("crashed")
                }
                if output.contains(secret) { finding("printed the password") }
                if status != 0 && status != 3 {
                    // Refused (3, a lost lease, is an answer, not a refusal): one line, nothing written.
                    if output.split(separator: "\n").count != 1 && arguments.first != "migrate" { finding("\(status) with more than one line") }
                    if try await fixture.rowCounts() != before { finding("refused with \(status) but changed rows") }
                }
            }
            return findings
        }
    }

    /// Runs `muster arguments`; nil status when it had to be killed after 30 s (a hang).
    static func runBounded(_ arguments: [String]) async throws -> (status: Int32?, output: String) {
        let child = try ChildProcess(arguments)
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await child.wait() }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next()!
            if first == nil { child.kill(SIGKILL) }
            group.cancelAll()
            return first
        }
        return (status, child.output())
    }

    /// Hostile values: empty, signs, huge and non-finite numbers, bad durations, control
    /// characters, long text, broken JSON, injection attempts, a URL with a password.
    static let hostile = [
        "", "-", "--", "-1", "0", "99999999999999999999", "1e309", "NaN", "soon", "1s1s", "-5s", "\u{1B}[2J", "a\nb", "é日本", "\u{0}",
        String(repeating: "x", count: 5_000), "{", "{\"a\":", "[]", "null", "\"s\"", "@/nonexistent", "'; DROP TABLE messages; --",
        "00000000-0000-0000-0000-000000000000", "not-a-uuid", "postgres://app:\(secret)@[::1", "host=db password=\(secret) x", "%s%n",
    ]

    /// Options any command might be given by mistake (none that waits or loops: no --wait,
    /// --watch, --embedded or --uninstall).
    static let strayOptions = ["--json", "--limit", "--delay", "--force", "--task", "--reason", "--priority", "--read-count", "--help", "--version", "--bogus"]

    static func mutate(_ arguments: [String], _ random: inout SeededRandom) -> [String] {
        var arguments = arguments
        for _ in 0..<Int(random.next() % 3) + 1 {
            let operation = random.next() % 6
            let count = UInt64(arguments.count)
            if operation < 2 && count > 0 {
                arguments[Int(random.next() % count)] = random.pick(hostile)
            } else if operation == 2 && count > 1 {
                arguments.remove(at: Int(random.next() % (count - 1)) + 1)
            } else if operation == 3 && count > 0 {
                let index = Int(random.next() % count)
                arguments.insert(arguments[index], at: index)
            } else if operation == 4 && count > 2 {
                arguments.swapAt(Int(random.next() % count), Int(random.next() % count))
            } else {
                arguments += [random.pick(strayOptions), random.pick(hostile)]
            }
        }
        return arguments
    }
}

/// A lane's schema: queues `jobs` and `other`, messages (some leased), a dead letter and two
/// executions (one running, one canceled, so `execution wait` on it returns at once).
private struct LaneFixture {
    let schema: SchemaName
    let client: MusterClient
    /// One session for the row counts taken around every run.
    let counter: PostgresConnection
    let running: UUID
    let canceled: UUID

    static func make(_ schema: SchemaName) async throws -> LaneFixture {
        try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
        let client = try TestDatabase.client(schema: schema, options: .init(maxConnections: 2))
        let running = try await client.executions.create(pipeline: "fuzz").id
        let canceled = try await client.executions.create(pipeline: "fuzz").id
        _ = try await client.executions.cancel(canceled)
        let counter = try await TestDatabase.connect()
        let fixture = LaneFixture(schema: schema, client: client, counter: counter, running: running, canceled: canceled)
        try await fixture.reseed()
        return fixture
    }

    /// Queues back if a run deleted them, and some messages to act on.
    func reseed() async throws {
        try await client.createQueue("jobs", settings: QueueSettings(maxAttempts: 1))
        try await client.createQueue("other")
        _ = try await client.queue("jobs").send((0..<4).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
        _ = try await client.queue("jobs").read(limit: 1)
    }

    var corpus: [[String]] {
        let (running, canceled) = (running.uuidString, canceled.uuidString)
        return [
            ["send", "jobs", #"{"a":1}"#, "--task", "t", "--priority", "1", "--delay", "1s", "--dedup-key", "k", "--header", "a=b"],
            ["send", "other", "[1,2]", "--execution", running],
            ["read", "jobs", "--limit", "2", "--visibility-timeout", "30s", "--json"],
            ["ack", "jobs", "1", "--read-count", "1"], ["archive", "jobs", "2", "--read-count", "1"],
            ["release", "jobs", "3", "--read-count", "1", "--delay", "1s", "--error", "boom"],
            ["queue", "create", "q1", "--max-attempts", "3", "--visibility-timeout", "10s"], ["queue", "update", "jobs", "--retention", "1d"],
            ["queue", "show", "jobs", "--json"], ["queue", "list"], ["queue", "pause", "other"], ["queue", "resume", "other"],
            ["queue", "purge", "other"], ["queue", "delete", "q1"],
            ["dead-letters", "list", "jobs", "--limit", "5"], ["dead-letters", "show", "jobs", "1", "--json"],
            ["dead-letters", "requeue", "jobs", "--reason", "max_attempts"], ["dead-letters", "purge", "jobs", "--older-than", "7d"],
            ["status", "--json"], ["workers"], ["executions", "list", "--status", "running", "--since", "1h"],
            ["execution", "show", running], ["execution", "cancel", canceled, "--reason", "r"], ["execution", "wait", canceled, "--timeout", "100ms"],
            ["migrate", "--status"], ["migrate", "--dry-run"],
        ]
    }

    func rowCounts() async throws -> [Int] {
        let s = schema.quoted
        let tables = ["queues", "messages", "message_keys", "archive", "dead_letters", "executions", "barriers"]
        let row = try await counter.query("SELECT " + tables.map { "(SELECT count(*) FROM \(s).\($0))" }.joined(separator: ", ")).single()
        return try tables.indices.map { try row.decode($0) }
    }
}

