import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster test-worker`: a real worker process whose handler does what each message says,
/// for crash tests. It records `started` and `finished` events per delivery in a table the
/// test created (`message_id bigint, read_ct int, pid int, event text, at timestamptz`).
///
/// Payload: `{"action": "succeed" | "sleep" | "throw" | "crash" | "hang", "seconds": 5,
/// "until_attempt": 1}`; with `until_attempt`, later deliveries just succeed.
struct TestWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "test-worker", abstract: "A worker for crash tests.", shouldDisplay: false)

    @OptionGroup var database: DatabaseOptions
    @Option var queue: QueueName
    @Option var concurrency = 4
    @Option var prefetch = 0
    @Option(name: .customLong("time-limit")) var timeLimit: DurationArgument?
    @Option(name: .customLong("drain-timeout")) var drainTimeout: DurationArgument?
    @Option(name: .customLong("record-table")) var recordTable: String

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
        let client = MusterClient(
            database: try database.configuration(), schema: schema,
            options: .init(maxConnections: concurrency + 2, applicationName: "muster-test-worker-\(getpid())")
        )
        let record = "INSERT INTO \(schema.quoted).\"\(recordTable)\" (message_id, read_ct, pid, event) VALUES ($1::bigint, $2::int, $3::int, $4)"
        var worker = Worker(
            client: client, queue: queue,
            options: WorkerOptions(
                concurrency: concurrency, prefetch: prefetch, timeLimit: timeLimit?.duration,
                drainTimeout: drainTimeout?.duration ?? .seconds(30), pollInterval: .milliseconds(200)
            )
        )
        worker.register(task: "test", as: Instruction.self) { instruction, context in
            let note: @Sendable (String) async throws -> Void = { event in
                _ = try await client.withTransaction { tx in
                    try await tx.execute(record, ["\(context.messageID)", "\(context.attempt)", "\(getpid())", event])
                }
            }
            try await note("started")
            let act = instruction.until_attempt.map { context.attempt <= $0 } ?? true
            if act {
                switch instruction.action {
                case "sleep": try await Task.sleep(for: .milliseconds(Int64((instruction.seconds ?? 1) * 1000)))
                case "throw": throw Failure(description: "instructed to fail on attempt \(context.attempt)")
                case "crash": kill(getpid(), SIGKILL)
                case "hang": await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
                default: break
                }
            }
            try await note("finished")
        }
        var logger = Logger(label: "muster.test-worker")
        logger.logLevel = .warning
        try await runUntilSignalled([worker], logger: logger)
        await client.shutdown()
    }
}
