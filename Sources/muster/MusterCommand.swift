import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster`: the command-line tool. Errors are one line on stderr; exit status 2 means bad
/// usage or input, 1 a runtime failure.
@main
struct MusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muster",
        abstract: "Muster: a PostgreSQL-native durable task queue with fan-out/fan-in barriers.",
        discussion: """
        Database: --database-url, else MUSTER_DATABASE_URL, else DATABASE_URL, else libpq's \
        PG* variables. --embedded uses a local throwaway PostgreSQL under .muster/.

        Example:
          muster migrate --embedded
          muster migrate --status --json --embedded
        """,
        version: "muster \(MusterVersion.description)",
        subcommands: [
            DemoCommand.self, StatusCommand.self, ExecutionsCommand.self, ExecutionCommand.self, WorkersCommand.self,
            MigrateCommand.self, QueueCommand.self, SendCommand.self, ReadCommand.self, Ack.self, Archive.self,
            Release.self, DeadLettersCommand.self, EmbeddedCommand.self, ReaperCommand.self, BenchCommand.self, TestWorkerCommand.self,
            DemoWorkerCommand.self, MetricsCommand.self, DashboardCommand.self,
        ]
    )

    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            let level = ProcessInfo.processInfo.environment["MUSTER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            handler.logLevel = level ?? .warning
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(with: error)
        }
    }

    /// Prints `error` as one line and exits with the documented status.
    static func exit(with error: any Error) -> Never {
        if let error = error as? MusterError {
            Terminal.error(error.description)
            Foundation.exit(CommandFailure.inputCodes.contains(error.code) ? 2 : 1)
        }
        if let failure = error as? CommandFailure {
            Terminal.error(failure.message)
            Foundation.exit(failure.status)
        }
        if let exitCode = error as? ExitCode {
            Foundation.exit(exitCode.rawValue)
        }
        let code = exitCode(for: error)
        if code == .success || error is CleanExit {
            MusterCommand.exit(withError: error)
        }
        if code == .validationFailure {
            Terminal.error(argumentErrorLine(message(for: error), rule: ArgumentRules.takeRejection(), arguments: CommandLine.arguments))
            Foundation.exit(2)
        }
        Terminal.error("\(error)")
        Foundation.exit(1)
    }
}

extension MusterCommand {
    /// One line for an argument ArgumentParser refused: its message (control characters and
    /// newlines of the echoed value escaped), the rule the value broke when its type recorded
    /// one, and the help of the subcommand that was run.
    static func argumentErrorLine(_ message: String, rule: String?, arguments: [String]) -> String {
        var line = message.trimmingCharacters(in: .whitespacesAndNewlines)
        if let rule { line += ": \(rule)" }
        return "\(Terminal.printable(line)); see '\(commandPath(arguments)) --help'"
    }

    /// `muster queue create` for `muster queue create 'bad name' …`: the subcommands named
    /// at the start of `arguments`.
    static func commandPath(_ arguments: [String]) -> String {
        var command: any ParsableCommand.Type = MusterCommand.self
        var path = ["muster"]
        for word in arguments.dropFirst() {
            guard let subcommand = command.configuration.subcommands.first(where: { $0._commandName == word }) else { break }
            path.append(word)
            command = subcommand
        }
        return path.joined(separator: " ")
    }
}

/// A failure the CLI reports with a specific exit status.
struct CommandFailure: Error {
    var message: String
    var status: Int32

    /// Bad input or usage (status 2).
    static func usage(_ message: String) -> CommandFailure { CommandFailure(message: message, status: 2) }

    /// Error codes that mean the user's input was wrong, not the system.
    static let inputCodes: Set<MusterError.Code> = [
        .invalidArgument, .invalidConnectionString, .invalidMigrationFile, .unknownQueue, .unknownExecution, .payloadTooLarge,
        .illegalTransition,
    ]
}
