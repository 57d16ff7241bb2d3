import ArgumentParser
import Foundation
import Muster

/// `muster queue …`: create, inspect and change queues.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Create, list, show, update, pause, resume, purge or delete queues.",
        discussion: """
        Examples:
          muster queue create images --visibility-timeout 2m --max-attempts 8
          muster queue list --json
          muster queue pause images
        """,
        subcommands: [Create.self, List.self, Show.self, Update.self, Pause.self, Resume.self, Purge.self, Delete.self]
    )

    /// Settings options shared by create and update; unset ones keep the current value.
    struct SettingsOptions: ParsableArguments {
        @Option(name: .customLong("visibility-timeout"), help: "Lease length, 100ms to 12h (new queues: 30s).")
        var visibilityTimeout: DurationArgument?
        @Option(name: .customLong("max-attempts"), help: "Deliveries before dead-lettering, 1 to 1000 (new queues: 5).")
        var maxAttempts: Int?
        @Option(name: .customLong("retry-backoff-base"), help: "First retry delay, doubling per attempt; 0 to the max (new queues: 1s).")
        var retryBackoffBase: DurationArgument?
        @Option(name: .customLong("retry-backoff-max"), help: "Largest retry delay, up to 7d (new queues: 5m).")
        var retryBackoffMax: DurationArgument?
        @Option(help: "How long archived messages and dead letters are kept; above 0 (new queues: 7d).")
        var retention: DurationArgument?
        @Option(name: .customLong("dedup-window"), help: "How long dedup keys a sender gives are remembered; above 0 (new queues: 1d). Keys the client generates are kept 5m at most.")
        var dedupWindow: DurationArgument?
        @Option(name: .customLong("max-payload-bytes"), help: "Largest payload accepted, 1 to 67108864 (new queues: 1048576).")
        var maxPayloadBytes: Int?
        @Option(name: .customLong("archive-on-ack"), help: "true: ack archives instead of deleting (new queues: false).")
        var archiveOnAck: Bool?

        func applied(to base: QueueSettings) -> QueueSettings {
            var settings = base
            if let visibilityTimeout { settings.visibilityTimeout = visibilityTimeout.duration }
            if let maxAttempts { settings.maxAttempts = maxAttempts }
            if let retryBackoffBase { settings.retryBackoffBase = retryBackoffBase.duration }
            if let retryBackoffMax { settings.retryBackoffMax = retryBackoffMax.duration }
            if let retention { settings.retention = retention.duration }
            if let dedupWindow { settings.dedupWindow = dedupWindow.duration }
            if let maxPayloadBytes { settings.maxPayloadBytes = maxPayloadBytes }
            if let archiveOnAck { settings.archiveOnAck = archiveOnAck }
            return settings
        }
    }

    /// What `list`, `show` and `--json` print for a queue.
    struct Summary: Encodable {
        var name: String
        var visibilityTimeout: String
        var maxAttempts: Int
        var retryBackoff: String
        var retention: String
        var dedupWindow: String
        var maxPayloadBytes: Int
        var archiveOnAck: Bool
        var paused: Bool
        var metrics: QueueMetrics?

        init(_ name: QueueName, _ settings: QueueSettings, _ metrics: QueueMetrics?) {
            self.name = name.rawValue
            visibilityTimeout = DurationText.format(settings.visibilityTimeout)
            maxAttempts = settings.maxAttempts
            retryBackoff = "\(DurationText.format(settings.retryBackoffBase))..\(DurationText.format(settings.retryBackoffMax))"
            retention = DurationText.format(settings.retention)
            dedupWindow = DurationText.format(settings.dedupWindow)
            maxPayloadBytes = settings.maxPayloadBytes
            archiveOnAck = settings.archiveOnAck
            paused = settings.paused
            self.metrics = metrics
        }

        var row: [String] {
            [name, paused ? "paused" : "active", "\(metrics?.ready ?? 0)", "\(metrics?.delayed ?? 0)", "\(metrics?.leased ?? 0)",
             "\(metrics?.dead ?? 0)", Human.age(seconds: metrics?.oldestReadyAgeSeconds), visibilityTimeout, "\(maxAttempts)"]
        }

        static let header = ["QUEUE", "STATE", "READY", "DELAYED", "LEASED", "DEAD", "OLDEST", "VT", "ATTEMPTS"]
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a queue (exit 0 also when it exists).", discussion: "Example: muster queue create images --visibility-timeout 1m --max-attempts 8 --retention 14d")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Queue name: 1-64 letters, digits, _, - or .") var name: QueueName
        @OptionGroup var settings: SettingsOptions
        func run() async throws {
            let created = try await database.withClient { try await $0.createQueue(name, settings: settings.applied(to: QueueSettings())) }
            print(created ? "created queue \(name)" : "queue \(name) already exists (settings unchanged; use `muster queue update`)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queues with their counts.", discussion: "Example: muster queue list --json")
        @OptionGroup var database: InspectionDatabaseOptions
        @Flag(help: "Machine-readable output.") var json = false
        func run() async throws {
            let summaries = try await database.withClient { client in
                let metrics = Dictionary(uniqueKeysWithValues: try await client.metrics().map { ($0.queue, $0) })
                return try await client.queues().map { Summary($0.name, $0.settings, metrics[$0.name.rawValue]) }
            }
            if json { return try Terminal.printJSON(summaries) }
            Terminal.printTable(Summary.header, summaries.map(\.row))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one queue's settings and counts.", discussion: "Example: muster queue show images")
        @OptionGroup var database: InspectionDatabaseOptions
        @Argument var name: QueueName
        @Flag(help: "Machine-readable output.") var json = false
        func run() async throws {
            let summary = try await database.withClient { client in
                Summary(name, try await client.settings(of: name), try await client.metrics(for: name).first)
            }
            if json { return try Terminal.printJSON(summary) }
            Terminal.printTable(Summary.header, [summary.row])
            print("retry backoff \(summary.retryBackoff), retention \(summary.retention), dedup window \(summary.dedupWindow), max payload \(summary.maxPayloadBytes) bytes, archive on ack \(summary.archiveOnAck)")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a queue's settings (unset options keep their value).", discussion: "Example: muster queue update images --max-attempts 10 --retry-backoff-max 10m")
        @OptionGroup var database: DatabaseOptions
        @Argument var name: QueueName
        @OptionGroup var settings: SettingsOptions
        func run() async throws {
            try await database.withClient { client in
                try await client.updateQueue(name, settings: settings.applied(to: try await client.settings(of: name)))
            }
            print("updated queue \(name)")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop handing out messages (sends still accepted).", discussion: "Example: muster queue pause images")
        @OptionGroup var database: DatabaseOptions
        @Argument var name: QueueName
        func run() async throws { try await setPaused(true, name, database); print("paused queue \(name)") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hand out messages again.", discussion: "Example: muster queue resume images")
        @OptionGroup var database: DatabaseOptions
        @Argument var name: QueueName
        func run() async throws { try await setPaused(false, name, database); print("resumed queue \(name)") }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every waiting message (ready and delayed; leased ones stay).",
            discussion: """
                Refuses when waiting messages belong to open executions (they would wait forever) \
                unless --force; cancel those executions with `muster execution cancel` instead.
                Example: muster queue purge jobs
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Argument var name: QueueName
        @Flag(help: "Also purge messages of open executions (the executions are left waiting).") var force = false
        func run() async throws {
            let purge = try await database.withClient { try await $0.queue(name).purge(force: force) }
            print("purged \(purge.messages) messages from \(name)")
            if purge.ofOpenExecutions > 0 {
                print("\(purge.ofOpenExecutions) of them belonged to \(purge.openExecutions) open executions, which now wait for messages that are gone: cancel them with `muster execution cancel`")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a queue (refused while it holds messages, dead letters or archived messages, unless --force).",
            discussion: "Example: muster queue delete old-jobs --force"
        )
        @OptionGroup var database: DatabaseOptions
        @Argument var name: QueueName
        @Flag(help: "Delete whatever the queue still holds with it.") var force = false
        func run() async throws {
            let deleted = try await database.withClient { try await $0.deleteQueue(name, force: force) }
            print("deleted queue \(name) with \(deleted.messages) messages, \(deleted.deadLetters) dead letters and \(deleted.archived) archived messages")
        }
    }

    static func setPaused(_ paused: Bool, _ name: QueueName, _ database: DatabaseOptions) async throws {
        try await database.withClient { client in try await client.setPaused(paused, queue: name) }
    }
}
