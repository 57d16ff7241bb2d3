import ArgumentParser
import Foundation
import Muster

/// `muster dead-letters …`: inspect, requeue and purge dead letters.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List, show, requeue or purge dead letters.",
        discussion: """
        Examples:
          muster dead-letters list images
          muster dead-letters requeue images 17 18
          muster dead-letters purge images --older-than 7d
        """,
        subcommands: [List.self, Show.self, Requeue.self, Purge.self]
    )

    struct Printed: Encodable {
        var id: Int64
        var queue: String
        var reason: String
        @NullWhenAbsent var lastError: String?
        var readCount: Int32
        var errorCount: Int32
        @NullWhenAbsent var task: String?
        @NullWhenAbsent var executionID: UUID?
        var dedupKey: String
        var enqueuedAt: Date
        var deadAt: Date
        var payload: RawJSON
        var headers: [String: String]

        init(_ letter: DeadLetter) {
            id = letter.id; queue = letter.queue; reason = letter.reason; lastError = letter.lastError
            readCount = letter.readCount; errorCount = letter.errorCount; task = letter.task; executionID = letter.executionID
            dedupKey = letter.dedupKey; enqueuedAt = letter.enqueuedAt; deadAt = letter.deadAt
            payload = RawJSON(text: letter.payload.text); headers = letter.headers
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest dead letters of a queue.", discussion: "Example: muster dead-letters list images --limit 20 --json")
        @OptionGroup var database: InspectionDatabaseOptions
        @Argument var queue: QueueName
        @Option(parsing: .unconditional, help: "At most this many (1-10000).") var limit = 50
        @Flag(help: "Machine-readable output.") var json = false
        func run() async throws {
            let letters = try await database.withClient { try await $0.queue(queue).deadLetters(limit: limit) }
            if json { return try Terminal.printJSON(letters.map(Printed.init)) }
            Terminal.printTable(
                ["ID", "REASON", "READS", "ERRORS", "TASK", "EXECUTION", "DEAD AT", "LAST ERROR"],
                letters.map {
                    ["\($0.id)", $0.reason, "\($0.readCount)", "\($0.errorCount)", $0.task ?? "-",
                     $0.executionID?.uuidString.lowercased() ?? "-", Human.time($0.deadAt),
                     String(($0.lastError ?? "(no error recorded: the deliveries died)").prefix(60))]
                }
            )
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter, with its payload.", discussion: "Example: muster dead-letters show images 42 --json")
        @OptionGroup var database: InspectionDatabaseOptions
        @Argument var queue: QueueName
        @Argument var id: Int64
        @Flag(help: "Machine-readable output.") var json = false
        func run() async throws {
            let letters = try await database.withClient { try await $0.queue(queue).deadLetters(id: id, limit: 1) }
            guard let letter = letters.first else { throw CommandFailure(message: "no dead letter \(id) in queue \(queue)", status: 1) }
            if json { return try Terminal.printJSON(Printed(letter)) }
            Terminal.printTable(["FIELD", "VALUE"], [
                ["id", "\(letter.id)"], ["queue", letter.queue], ["reason", letter.reason], ["task", letter.task ?? "-"],
                ["execution", letter.executionID?.uuidString.lowercased() ?? "-"], ["deliveries", "\(letter.readCount)"],
                ["errors", "\(letter.errorCount)"], ["last error", letter.lastError ?? "(no error recorded: the deliveries died)"],
                ["dedup key", letter.dedupKey], ["enqueued", Human.time(letter.enqueuedAt)], ["dead since", Human.time(letter.deadAt)],
                ["headers", letter.headers.keys.sorted().map { "\($0)=\(letter.headers[$0]!)" }.joined(separator: " ")],
                ["payload", letter.payload.text],
            ])
        }
    }

    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back as fresh messages: by ids, by --reason/--task, or --all.",
            discussion: "Example: muster dead-letters requeue images --reason max_attempts --task resize"
        )
        @OptionGroup var database: DatabaseOptions
        @Argument var queue: QueueName
        @Argument(help: "Dead letter ids.") var ids: [Int64] = []
        @Option(help: "Only those with this reason, e.g. max_attempts or non_retryable (default: all).") var reason: String?
        @Option(help: "Only those of this task (default: all).") var task: String?
        @Flag(help: "Every dead letter of the queue.") var all = false
        func validate() throws {
            let filtered = !ids.isEmpty || reason != nil || task != nil
            if all == filtered { throw ValidationError("give dead letter ids, --reason/--task, or --all") }
        }
        func run() async throws {
            let (ids, reason, task) = (self.ids.isEmpty ? nil : self.ids, reason, task)
            let requeued = try await database.withClient { try await $0.queue(queue).requeueDeadLetters(ids: ids, reason: reason, task: task) }
            print("requeued \(requeued.count) messages")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters (older than --older-than, or all).", discussion: "Example: muster dead-letters purge images --older-than 7d")
        @OptionGroup var database: DatabaseOptions
        @Argument var queue: QueueName
        @Option(name: .customLong("older-than"), help: "Only those older than this, e.g. 7d (default: all).") var olderThan: DurationArgument?
        func run() async throws {
            let olderThan = olderThan?.duration
            let count = try await database.withClient { try await $0.queue(queue).purgeDeadLetters(olderThan: olderThan) }
            print("purged \(count) dead letters")
        }
    }
}
