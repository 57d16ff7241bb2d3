import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster test-worker`: a real worker process whose handler does what each message says,
/// for crash tests. It records `started` and `finished` events per delivery in a table the
/// test created (`message_id bigint, read_ct int, pid int, event text, at timestamptz`).
///
/// Payload: `{"action": "succeed" | "sleep" | "gate" | "throw" | "crash" | "hang", "seconds": 5,
/// "until_attempt": 1}`; with `until_attempt`, later deliveries just succeed. `gate` waits
/// until the test records a `proceed` event for the message, so a test decides when a
/// handler finishes instead of guessing how long it should sleep. Task `test`
/// runs as a plain handler, task `member` as a barrier member (its result is
/// `{"pid": …}`).
///
/// `--gated-pipeline` also runs the pipeline `gated` (see `gatedPipeline`): its one stage's
/// split waits at the gate of its start message, so a test can kill the process while the
/// orchestration claim is held and nothing is committed. `--ungated-pipeline` runs the same
/// pipeline without the gate (its split records nothing and waits for nothing).
///
/// `--complete-then-crash` instead leases one message, runs its barrier completion inside a
/// transaction and SIGKILLs the process before the commit.
struct TestWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test-worker", abstract: "A worker for crash tests.", shouldDisplay: false)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var metrics: LibraryMetricsOptions
    @Option var queue: QueueName
    @Option var concurrency = 4
    @Option var prefetch = 0
    @Option(name: .customLong("time-limit")) var timeLimit: DurationArgument?
    @Option(name: .customLong("drain-timeout")) var drainTimeout: DurationArgument?
    @Option(name: .customLong("heartbeat-interval")) var heartbeatInterval: DurationArgument?
    @Option(name: .customLong("claim-ttl")) var claimTTL: DurationArgument?
    @Option(name: .customLong("record-table")) var recordTable: String
    @Flag(name: .customLong("complete-then-crash")) var completeThenCrash = false
    @Flag(name: .customLong("gated-pipeline")) var gatedPipeline = false
    @Flag(name: .customLong("ungated-pipeline")) var ungatedPipeline = false

    struct Instruction: Decodable, Sendable {
        var action: String
        var seconds: Double?
        var until_attempt: Int?
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        let schema = try database.schemaName()
        guard recordTable.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw CommandFailure.usage("--record-table must be a plain identifier")
        }
        let logger = Logger(label: "muster.test-worker")    // warnings, or MUSTER_LOG_LEVEL
        let exporters = metrics.services(logger: logger)
        let client = try database.client(maxConnections: concurrency + 2, applicationName: "muster-test-worker-\(getpid())")
        if completeThenCrash { try await crashMidCompletion(client: client, schema: schema) }
        let proceeded = "SELECT 1 FROM \(schema.quoted).\"\(recordTable)\" WHERE message_id = $1::bigint AND event = 'proceed'"
        /// Waits until the test records a `proceed` event for the message.
        let gate: @Sendable (Int64) async throws -> Void = { messageID in
            while try await client.withTransaction({ try await $0.execute(proceeded, ["\(messageID)"]) }) == 0 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let record = "INSERT INTO \(schema.quoted).\"\(recordTable)\" (message_id, read_ct, pid, event) VALUES ($1::bigint, $2::int, $3::int, $4)"
        var worker = Worker(
            client: client, queue: queue,
            options: WorkerOptions(
                concurrency: concurrency, prefetch: prefetch, heartbeatInterval: heartbeatInterval?.duration, timeLimit: timeLimit?.duration,
                drainTimeout: drainTimeout?.duration ?? .seconds(30), pollInterval: .milliseconds(200)
            )
        )
        /// Records `event` for the delivery (its attempt in the `read_ct` column). The record
        /// runs as a task of its own so that a time limit cancelling the handler cannot cancel
        /// it: on a loaded machine the insert can outlast a short limit, and a test that counts
        /// `started` events must see every delivery that began.
        let note: @Sendable (String, HandlerContext) async throws -> Void = { event, context in
            try await Task {
                _ = try await client.withTransaction { tx in
                    try await tx.execute(record, ["\(context.messageID)", "\(context.attempt)", "\(getpid())", event])
                }
            }.value
        }
        let behave: @Sendable (Instruction, HandlerContext) async throws -> Void = { instruction, context in
            try await note("started", context)
            let act = instruction.until_attempt.map { context.attempt <= $0 } ?? true
            if act {
                switch instruction.action {
                case "sleep": try await Task.sleep(for: .milliseconds(Int64((instruction.seconds ?? 1) * 1000)))
                case "gate": try await gate(context.messageID)
                case "throw": throw Failure(description: "instructed to fail on attempt \(context.attempt)")
                case "crash": kill(getpid(), SIGKILL)
                case "hang": await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
                default: break
                }
            }
            try await note("finished", context)
        }
        worker.register(task: "test", as: Instruction.self, behave)
        worker.registerMember(task: "member", as: Instruction.self) { instruction, context in
            try await behave(instruction, context)
            return ["pid": Int(getpid())]
        }
        if gatedPipeline {
            try worker.register(Self.gatedPipeline(queue: queue) { context in
                try await note("split-started", context)
                try await gate(context.messageID)
            }, claimTTL: claimTTL?.duration ?? .seconds(30))
        } else if ungatedPipeline {
            try worker.register(Self.gatedPipeline(queue: queue))
        }
        try await runUntilSignalled([worker] + exporters, logger: logger)
        await client.shutdown()
    }

    /// The pipeline `gated` on `queue`: input n, one stage `parts` whose split runs
    /// `beforeSplit` (the test worker: record `split-started`, then wait at the gate) and
    /// returns 0..<n, parts that return themselves, and an aggregate that sums them.
    static func gatedPipeline(
        queue: QueueName, beforeSplit: @escaping @Sendable (HandlerContext) async throws -> Void = { _ in }
    ) -> Pipeline<Int, Int> {
        Pipeline("gated", queue: queue, input: Int.self)
            .stage("parts") { (n: Int, context: HandlerContext) in
                try await beforeSplit(context)
                return Array(0..<n)
            } process: { (i: Int, _: HandlerContext) in i } aggregate: { (_: Int, parts: [Int], _: HandlerContext) in parts.reduce(0, +) }
    }

    /// Leases one barrier member and records its completion in a transaction that never
    /// commits: the process SIGKILLs itself first, as a crash at the worst moment would.
    private func crashMidCompletion(client: MusterClient, schema: SchemaName) async throws -> Never {
        var messages: [ReceivedMessage] = []
        while messages.isEmpty {
            messages = try await client.queue(queue).read(limit: 1, visibilityTimeout: .seconds(1))
        }
        let message = messages[0]
        guard let barrier = message.headers["muster-barrier"], let member = message.headers["muster-member"] else {
            throw CommandFailure(message: "message \(message.id) is not a barrier member", status: 1)
        }
        _ = try await client.withTransaction { tx in
            try await tx.execute(
                "SELECT * FROM \(schema.quoted).complete_member($1, $2::bigint, $3::int, $4::bigint, $5, true, '{}', NULL)",
                [queue.rawValue, "\(message.id)", "\(message.readCount)", barrier, member]
            )
            kill(getpid(), SIGKILL)
        }
        fatalError("unreachable: SIGKILL did not stop the process")
    }
}
