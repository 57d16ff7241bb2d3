import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster reaper`: runs the reaper (leader-elected) until SIGTERM/SIGINT, or one sweep.
struct ReaperCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reaper",
        abstract: "Run the reaper: expire overdue barriers and executions, collect claims, tombstones and old rows.",
        discussion: """
            Every process may run one; a leader lease elects one at a time, and a new leader takes over \
            about one lease period after the leader dies.

            Finished executions are deleted, with their barriers and members, 30 days after they \
            finish (--execution-retention, or --keep-executions to keep them).

            Example: muster reaper --lease 15s --interval 5s
                     muster reaper --once --json
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var metrics: LibraryMetricsOptions
    @Option(help: "Leader lease length, 100ms to 1h (default 15s).") var lease: DurationArgument?
    @Option(help: "Time between sweeps; above 0 (default 5s).") var interval: DurationArgument?
    @Option(name: .customLong("tombstone-retention"), help: "How long tombstones of finished executions are kept; above 0 (default 7d).")
    var tombstoneRetention: DurationArgument?
    @Option(name: .customLong("execution-retention"), help: "How long finished executions are kept; above 0 (default 30d).")
    var executionRetention: DurationArgument?
    @Flag(name: .customLong("keep-executions"), help: "Never delete finished executions.") var keepExecutions = false
    @Flag(help: "Sweep once (if this process can lead) and print what was done.") var once = false
    @Flag(help: "With --once: print JSON.") var json = false

    func run() async throws {
        var options = ReaperOptions()
        if let lease { options.leaseTTL = lease.duration }
        if let interval { options.sweepInterval = interval.duration }
        if let tombstoneRetention { options.tombstoneRetention = tombstoneRetention.duration }
        if let executionRetention { options.executionRetention = executionRetention.duration }
        if keepExecutions { options.executionRetention = nil }
        let client = try database.client(maxConnections: 2, applicationName: "muster-reaper")
        let reaper = Reaper(client: client, options: options)
        guard once else {
            let logger = Logger(label: "muster.reaper")
            try await runUntilSignalled([reaper] + metrics.services(logger: logger), logger: logger)
            await client.shutdown()
            return
        }
        let swept = try await reaper.sweepOnce()
        await client.shutdown()
        guard let counts = swept else {
            throw CommandFailure(message: "another process leads the reaper; nothing swept", status: 1)
        }
        if json {
            try Terminal.printJSON(counts)
        } else {
            for (kind, count) in counts.sorted(by: { $0.key < $1.key }) { print("\(kind): \(count)") }
        }
    }
}
