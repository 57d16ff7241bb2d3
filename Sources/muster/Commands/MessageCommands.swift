import ArgumentParser
import Foundation
import Muster

/// `muster send QUEUE JSON`: enqueue one message and print its id.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one message; prints its id.",
        discussion: """
        The payload is JSON text, `-` to read it from standard input, or `@path` to read it \
        from a file (payloads of any size the queue accepts).

        Examples:
          muster send images '{"url": "https://example.com/a.png"}' --task resize --dedup-key img-a
          muster send images @batch-42.json --task resize
          generate-job | muster send images - --task resize
        """
    )
    @OptionGroup var database: DatabaseOptions
    @Argument var queue: QueueName
    @Argument(help: "The payload: JSON, - for standard input, or @path for a file.") var payload: String
    @Option(name: .customLong("dedup-key"), help: "Send at most once per key (default: a generated key).") var dedupKey: String?
    @Option(help: "Execution id (UUID) the message belongs to (default: none).") var execution: String?
    @Option(parsing: .unconditional, help: "Invisible for this long, e.g. 10s (default: visible at once).") var delay: DurationArgument?
    @Option(help: "Lower runs first, -32768 to 32767.") var priority: Int16 = 0
    @Option(help: "Task (handler) name (default: none).") var task: String?
    @Option(name: .customLong("header"), help: "A header as key=value (repeatable).") var headers: [String] = []
    @Flag(help: "Machine-readable output.") var json = false

    func run() async throws {
        var message = OutgoingMessage(payload: try JSONPayload(json: try payloadText()), task: task, priority: priority, dedupKey: dedupKey)
        if let execution {
            guard let id = UUID(uuidString: execution) else { throw CommandFailure.usage("--execution must be a UUID") }
            message.executionID = id
        }
        if let delay { message.delay = delay.duration }
        for header in headers {
            guard let equals = header.firstIndex(of: "=") else { throw CommandFailure.usage("--header takes key=value") }
            message.headers[String(header[..<equals])] = String(header[header.index(after: equals)...])
        }
        let result = try await database.withClient { try await $0.queue(queue).send(message) }
        if json { return try Terminal.printJSON(result) }
        print(result.duplicate ? "\(result.id) (duplicate: already sent with this dedup key)" : "\(result.id)")
    }

    /// The payload argument's JSON text: as given, from standard input (`-`) or from a file
    /// (`@path`).
    private func payloadText() throws -> String {
        let data: Data
        if payload == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else if payload.hasPrefix("@") {
            let path = String(payload.dropFirst())
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CommandFailure.usage("cannot read the payload file \(Terminal.printable(path))")
            }
            data = contents
        } else {
            return payload
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure.usage("the payload is not UTF-8 text") }
        return text
    }
}

/// `muster read QUEUE`: lease messages and print them with their read counts.
struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Lease up to --limit messages and print them (ack with their id and read count).",
        discussion: """
        Example:
          muster read images --limit 10 --visibility-timeout 1m --json
          muster ack images 42 --read-count 1
        """
    )
    @OptionGroup var database: DatabaseOptions
    @Argument var queue: QueueName
    @Option(parsing: .unconditional, help: "At most this many (1-1000).") var limit = 1
    @Option(name: .customLong("visibility-timeout"), help: "Lease length (default: the queue's).") var visibilityTimeout: DurationArgument?
    @Option(help: "Wait this long for a message when none is ready, a long poll (default: return at once).") var wait: DurationArgument?
    @Flag(help: "Machine-readable output.") var json = false

    struct Printed: Encodable {
        var id: Int64
        var readCount: Int32
        var payload: RawJSON
        var headers: [String: String]
        @NullWhenAbsent var task: String?
        @NullWhenAbsent var executionID: UUID?
        var priority: Int16
        var enqueuedAt: Date
        var leaseExpiresAt: Date
        var errorCount: Int32
        @NullWhenAbsent var lastError: String?
    }

    func run() async throws {
        let messages = try await database.withClient { client in
            let queue = client.queue(queue)
            if let wait {
                return try await queue.read(limit: limit, visibilityTimeout: visibilityTimeout?.duration, waitUpTo: wait.duration)
            }
            let messages = try await queue.read(limit: limit, visibilityTimeout: visibilityTimeout?.duration)
            // A paused queue hands out nothing: say so rather than look empty.
            if messages.isEmpty, try await client.settings(of: queue.name).paused {
                Terminal.note("queue \(queue.name) is paused: nothing is handed out until `muster queue resume \(queue.name)`")
            }
            return messages
        }
        let printed = messages.map {
            Printed(id: $0.id, readCount: $0.readCount, payload: RawJSON(text: $0.payload.text), headers: $0.headers,
                    task: $0.task, executionID: $0.executionID, priority: $0.priority, enqueuedAt: $0.enqueuedAt,
                    leaseExpiresAt: $0.leaseExpiresAt, errorCount: $0.errorCount, lastError: $0.lastError)
        }
        if json { return try Terminal.printJSON(printed) }
        Terminal.printTable(
            ["ID", "READ COUNT", "TASK", "LEASE UNTIL", "PAYLOAD"],
            messages.map { ["\($0.id)", "\($0.readCount)", $0.task ?? "-", Human.time($0.leaseExpiresAt), String($0.payload.text.prefix(60))] }
        )
    }
}

/// The lease a settle command acts on: queue, message id and read count (the fencing token).
struct LeaseArguments: ParsableArguments {
    @OptionGroup var database: DatabaseOptions
    @Argument var queue: QueueName
    @Argument var id: Int64
    @Option(name: .customLong("read-count"), help: "The read count of your lease (the fencing token), 1 or more.") var readCount: Int32

    /// Runs `operation` on the lease; exit status 3 when it was lost (re-delivered or gone).
    func settle(_ verb: String, _ operation: @escaping @Sendable (Queue, Lease) async throws -> LeaseOutcome) async throws {
        let lease = Lease(messageID: id, readCount: readCount)
        let queueName = queue
        let outcome = try await database.withClient { try await operation($0.queue(queueName), lease) }
        guard outcome.allApplied else {
            throw CommandFailure(message: "lease lost: message \(id) is no longer held with read count \(readCount)", status: 3)
        }
        print("\(verb) \(id)")
    }
}

struct Ack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a leased message (exit 3 if the lease was lost).",
                                                    discussion: "Example:\n  muster ack images 42 --read-count 1")
    @OptionGroup var lease: LeaseArguments
    func run() async throws { try await lease.settle("acked") { try await $0.ack([$1]) } }
}

struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Move a leased message to the archive (exit 3 if the lease was lost).",
                                                    discussion: "Example:\n  muster archive images 42 --read-count 1")
    @OptionGroup var lease: LeaseArguments
    func run() async throws { try await lease.settle("archived") { try await $0.archive([$1]) } }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Give a leased message back, optionally delayed (exit 3 if the lease was lost).",
                                                    discussion: "Example:\n  muster release images 42 --read-count 1 --delay 30s --error 'upstream 503'")
    @OptionGroup var lease: LeaseArguments
    @Option(parsing: .unconditional, help: "Visible again after this long (default: at once).") var delay: DurationArgument?
    @Option(help: "The error to record (default: none).") var error: String?
    func run() async throws {
        let (delay, error) = (delay?.duration ?? .zero, error)
        try await lease.settle("released") { try await $0.release([$1], delay: delay, error: error) }
    }
}
