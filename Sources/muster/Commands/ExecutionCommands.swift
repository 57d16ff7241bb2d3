import ArgumentParser
import Foundation
import Muster

/// `muster executions list`: executions, newest first.
struct ExecutionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "executions",
        abstract: "List pipeline executions.",
        subcommands: [List.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List executions, newest first, filtered by status, pipeline and age.",
            discussion: "Example: muster executions list --status running --pipeline corpus --since 1h"
        )

        @OptionGroup var database: InspectionDatabaseOptions
        @Option(help: "pending, running, completed, failed or canceled (default: all).") var status: String?
        @Option(help: "Only this pipeline (default: all).") var pipeline: String?
        @Option(help: "Only executions created within this long, e.g. 1h (default: any age).") var since: DurationArgument?
        @Option(help: "Most rows (1-10000).") var limit = 50
        @Flag(help: "Machine-readable output.") var json = false

        func run() async throws {
            let filter = try status.map { text in
                guard let status = ExecutionStatus(rawValue: text) else {
                    throw CommandFailure.usage("unknown status \(text): use pending, running, completed, failed or canceled")
                }
                return status
            }
            let cutoff = since.map { Date().addingTimeInterval(-DemoCommand.seconds($0.duration)) }
            let executions = try await database.withClient {
                try await $0.executions.list(status: filter, pipeline: pipeline, since: cutoff, limit: limit)
            }
            if json { return try Terminal.printJSON(executions.map(InspectionJSON.ExecutionJSON.init)) }
            Self.printTable(executions)
        }

        static func printTable(_ executions: [Execution]) {
            Terminal.printTable(
                ["EXECUTION", "PIPELINE", "STATUS", "STAGE", "CREATED", "DURATION", "ERROR"],
                executions.map { execution in
                    let end = execution.finishedAt ?? Date()
                    return [execution.id.uuidString.lowercased(), execution.pipeline, execution.status.rawValue, execution.stage ?? "-",
                            Human.time(execution.createdAt), Human.age(seconds: end.timeIntervalSince(execution.createdAt)),
                            execution.error.map { String($0.prefix(60)) } ?? ""]
                }
            )
        }
    }
}

/// `muster execution show ID`: one execution in detail.
struct ExecutionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "execution",
        abstract: "Show one execution in detail, wait for it to finish, cancel it or retry it.",
        subcommands: [Show.self, Wait.self, Cancel.self, Retry.self]
    )

    /// `muster execution retry ID`: starts a failed or canceled execution again.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a failed or canceled execution again from the start, as a new execution.",
            discussion: """
                The new execution runs the same pipeline on the same input (the old one's start \
                message) and names the old one in retry_of; nothing of the old run is reused, so \
                handlers run again (they must be idempotent, as at-least-once delivery already \
                requires). Retrying the same execution again prints the retry that exists. Exit 2 \
                for an unknown execution, or one that is not failed or canceled.

                Example: muster execution retry 3f2c9a1e-8d4b-4c3a-9f1e-2b7d6c5a4e3f
                """
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The failed or canceled execution's id.") var id: ExecutionID
        @Flag(help: "Machine-readable output.") var json = false

        func run() async throws {
            let retry = try await database.withClient { try await $0.executions.retry(id.uuid) }
            struct Printed: Encodable { var retryOf: String; var execution: String; var created: Bool }
            let printed = Printed(retryOf: "\(id)", execution: retry.id.uuidString.lowercased(), created: retry.created)
            if json { return try Terminal.printJSON(printed) }
            print(retry.created ? "retrying execution \(id) as \(printed.execution)" : "execution \(id) was already retried as \(printed.execution)")
        }
    }

    /// `muster execution cancel ID`: stops an open execution.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel an open execution: mark it and its armed barriers canceled and delete its messages.",
            discussion: """
                Handlers running its messages are cancelled at their worker's next heartbeat and their \
                results are not counted; nothing more of the execution runs. Exit 1 when it had already \
                finished.

                Example: muster execution cancel 3f2c9a1e-8d4b-4c3a-9f1e-2b7d6c5a4e3f --reason "duplicate upload"
                """
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The execution id.") var id: ExecutionID
        @Option(help: "Recorded as the execution's error (default: canceled).") var reason: String?

        func run() async throws {
            let outcome = try await database.withClient { try await $0.executions.cancel(id.uuid, reason: reason) }
            guard outcome.canceled else {
                throw CommandFailure(message: "execution \(id) had already finished; nothing changed", status: 1)
            }
            print("canceled execution \(id); \(outcome.messagesRemoved) waiting messages removed")
        }
    }

    /// `muster execution wait ID`: blocks until the execution finishes; prints its output.
    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait until an execution finishes; print its output (JSON) when it completed.",
            discussion: """
                Exit status: 0 completed (its output printed), \(failedStatus) failed or canceled, \(stillOpenStatus) still \
                pending or running when --timeout passed, 2 bad input or unknown execution, 1 any \
                other error (e.g. the database cannot be reached).

                Example: muster execution wait 3f2c9a1e-8d4b-4c3a-9f1e-2b7d6c5a4e3f --timeout 5m
                """
        )

        /// The execution ended failed or canceled.
        static let failedStatus: Int32 = 4
        /// The execution was still open at the timeout.
        static let stillOpenStatus: Int32 = 5

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The execution id.") var id: ExecutionID
        @Option(help: "Give up (exit \(stillOpenStatus)) after this long.") var timeout = DurationArgument(argument: "1h")!

        func run() async throws {
            let execution: Execution
            do {
                execution = try await database.withClient { try await $0.executions.wait(for: id.uuid, timeout: timeout.duration) }
            } catch let error as MusterError where error.code == .executionStillOpen {
                throw CommandFailure(message: error.description, status: Self.stillOpenStatus)
            }
            guard execution.status == .completed else {
                throw CommandFailure(
                    message: "execution \(id) \(execution.status): \(Terminal.printable(execution.error ?? "no error recorded"))",
                    status: Self.failedStatus
                )
            }
            print(execution.output?.text ?? "null")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an execution: stages and barrier progress, members not done, messages in flight, dead letters, timeline.",
            discussion: "Example: muster execution show 3f2c9a1e-8d4b-4c3a-9f1e-2b7d6c5a4e3f --json"
        )

        @OptionGroup var database: InspectionDatabaseOptions
        @Argument(help: "The execution id.") var id: ExecutionID
        @Flag(help: "Machine-readable output.") var json = false

        func run() async throws {
            let report = try await database.withClient { try await $0.executions.report(id.uuid) }
            if json { return try Terminal.printJSON(InspectionJSON.ReportJSON(report)) }
            Self.print(report)
        }

        static func print(_ report: ExecutionReport) {
            let execution = report.execution
            Swift.print("Execution \(execution.id.uuidString.lowercased())")
            Swift.print("  pipeline  \(Terminal.printable(execution.pipeline))")
            Swift.print("  status    \(execution.status)\(execution.stage.map { " (stage \(Terminal.printable($0)))" } ?? "")")
            if let reason = report.reason { Swift.print("  why       \(Terminal.printable(reason))") }
            if let error = execution.error { Swift.print("  error     \(Terminal.printable(error))") }
            Swift.print("  created   \(Human.time(execution.createdAt)), finished \(Human.time(execution.finishedAt))")
            if let output = execution.output { Swift.print("  output    \(output.byteCount) bytes (--json shows it)") }
            section("Stages", ["BARRIER", "NAME", "STATUS", "DONE", "FAILED", "CREATED", "FIRED", "FINALIZED"], report.barriers.map { barrier in
                ["\(barrier.id)", barrier.name, barrier.status.rawValue, "\(barrier.expected - barrier.remaining)/\(barrier.expected)",
                 "\(barrier.failed)", Human.time(barrier.createdAt), Human.time(barrier.firedAt), Human.time(barrier.finalizedAt)]
            })
            section("Members not done", ["BARRIER", "MEMBER", "MESSAGE", "STATE", "DELIVERIES", "HELD BY", "LAST ERROR"], report.pendingMembers.map { member in
                [member.barrier, member.key, member.messageID.map(String.init) ?? "-", member.messageState ?? "gone",
                 member.readCount.map(String.init) ?? "-", member.leasedBy ?? "-", member.lastError.map { String($0.prefix(60)) } ?? ""]
            })
            section("Messages in flight", ["MESSAGE", "QUEUE", "TASK", "DELIVERY", "HELD BY", "HELD FOR", "LEASE"], report.inFlight.map { message in
                ["\(message.id)", message.queue, message.task ?? "-", "\(message.readCount)", message.leasedBy ?? "-",
                 Human.age(seconds: message.heldSeconds), message.expired ? "expired" : "until \(Human.time(message.leaseExpiresAt))"]
            })
            section("Dead letters", ["MESSAGE", "QUEUE", "TASK", "REASON", "DELIVERIES", "LAST ERROR"], report.deadLetters.map { letter in
                ["\(letter.id)", letter.queue, letter.task ?? "-", letter.reason, "\(letter.readCount)", letter.lastError.map { String($0.prefix(60)) } ?? ""]
            })
            section("Timeline", ["AT", "EVENT", "DETAIL"], report.timeline.map { [Human.time($0.at), $0.event, $0.detail ?? ""] })
        }

        private static func section(_ title: String, _ header: [String], _ rows: [[String]]) {
            Swift.print("\n\(title)\(rows.isEmpty ? ": none" : "")")
            if !rows.isEmpty { Terminal.printTable(header, rows) }
        }
    }
}

/// An execution id argument: a UUID, shown lowercase as PostgreSQL prints it. Anything else
/// is a usage error (exit 2) naming the value.
struct ExecutionID: ExpressibleByArgument, CustomStringConvertible {
    let uuid: UUID
    init?(argument: String) {
        guard let uuid = UUID(uuidString: argument) else {
            ArgumentRules.reject("execution ids are UUIDs, like 3f2c9a1e-8d4b-4c3a-9f1e-2b7d6c5a4e3f")
            return nil
        }
        self.uuid = uuid
    }
    var description: String { uuid.uuidString.lowercased() }
    static var defaultCompletionKind: CompletionKind { .default }
}
