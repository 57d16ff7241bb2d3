import ArgumentParser
import Foundation
import Muster

/// `muster status`: queues, workers, executions and the reaper leader, at a glance.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show queues (counts, oldest age), workers, open executions and the reaper leader.",
        discussion: """
            Example: muster status
                     muster status --watch --interval 2s
                     muster status --json
            """
    )

    @OptionGroup var database: InspectionDatabaseOptions
    @Flag(help: "Machine-readable output.") var json = false
    @Flag(help: "Refresh until interrupted.") var watch = false
    @Option(help: "Refresh interval with --watch (at least 100ms).") var interval = DurationArgument(argument: "2s")!

    func validate() throws {
        if interval.duration < .milliseconds(100) { throw ValidationError("--interval must be at least 100ms: each refresh queries the database") }
    }

    func run() async throws {
        try await database.withClient { client in
            repeat {
                let status = try await client.status()
                if watch && !json && isatty(STDOUT_FILENO) == 1 { Swift.print("\u{1B}[H\u{1B}[2J", terminator: "") }
                if json { try Terminal.printJSON(InspectionJSON.StatusJSON(status)) } else { Self.print(status) }
                if watch && !json { Swift.print("\nRefreshed \(Date().formatted(.iso8601)); every \(DurationText.format(interval.duration)), Ctrl-C to stop") }
                if watch { try await Task.sleep(for: interval.duration) }
            } while watch
        }
    }

    static func print(_ status: SystemStatus) {
        Swift.print("Queues")
        Terminal.printTable(
            ["QUEUE", "READY", "DELAYED", "LEASED", "EXPIRED", "DEAD", "OLDEST READY"],
            status.queues.map { queue in
                [queue.queue, "\(queue.ready)", "\(queue.delayed)", "\(queue.leased)", "\(queue.expiredLeases)", "\(queue.dead)",
                 queue.ready > 0 ? Human.age(seconds: queue.oldestReadyAgeSeconds) : "-"]
            }
        )
        let alive = status.workers.filter(\.alive)
        let gone = status.workers.count - alive.count
        Swift.print("\nWorkers: \(alive.count) alive\(gone > 0 ? ", \(gone) stopped or gone (muster workers lists them)" : "")")
        if !alive.isEmpty { WorkersCommand.printTable(alive) }
        let counts = status.executions.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        Swift.print("\nExecutions: \(counts.isEmpty ? "none" : counts)\(status.stuck > 0 ? "; \(status.stuck) stuck (see stuck_executions())" : "")")
        if !status.open.isEmpty {
            ExecutionsCommand.List.printTable(status.open)
        }
        let leader = status.reaperLeader.map { leader in
            leader.active ? "\(leader.holder) (lease until \(Human.time(leader.expiresAt)))" : "none (the last leader's lease ran out \(Human.age(since: leader.expiresAt)) ago)"
        } ?? "none has run"
        Swift.print("\nReaper leader: \(Terminal.printable(leader))")
    }
}

/// `muster workers`: worker processes and the leases they hold.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "List worker processes: alive or not, handlers in flight, leases held, last heartbeat.",
        discussion: "Example: muster workers --json"
    )

    @OptionGroup var database: InspectionDatabaseOptions
    @Flag(help: "Machine-readable output.") var json = false

    func run() async throws {
        let workers = try await database.withClient { try await $0.workers() }
        if json { return try Terminal.printJSON(workers.map(NullPreserving.init)) }
        Self.printTable(workers)
    }

    static func printTable(_ workers: [WorkerInfo]) {
        Terminal.printTable(
            ["WORKER", "QUEUES", "ALIVE", "IN FLIGHT", "LEASES", "EXPIRED", "OLDEST LEASE", "LAST BEAT", "STARTED"],
            workers.map { worker in
                [worker.id, worker.queues.joined(separator: ","), worker.alive ? "yes" : (worker.stoppedAt != nil ? "stopped" : "no"),
                 "\(worker.inFlight)/\(worker.concurrency)", "\(worker.leasesHeld)", "\(worker.leasesExpired)",
                 Human.age(seconds: worker.oldestLeaseSeconds), Human.age(seconds: worker.lastHeartbeatSeconds), Human.time(worker.startedAt)]
            }
        )
    }
}
