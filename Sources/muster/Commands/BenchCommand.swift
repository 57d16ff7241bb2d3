import ArgumentParser
import Foundation
import Muster
import Synchronization

/// `muster bench`: the Muster side of scripts/bench.sh. Runs one workload for a fixed time
/// and prints jobs per second; bench.sh runs pgbench with the same statements beside it.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run one benchmark workload (used by scripts/bench.sh).",
        shouldDisplay: false
    )

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case send1, send100, read1ack, read10ack

        /// Jobs one iteration completes.
        var jobsPerIteration: Int {
            switch self {
            case .send1, .read1ack: return 1
            case .send100: return 100
            case .read10ack: return 10
            }
        }
    }

    @OptionGroup var database: DatabaseOptions
    @Option var workload: Workload
    @Option var queue: QueueName = "bench"
    @Option var clients = 1
    @Option var seconds = 8.0

    func run() async throws {
        let client = MusterClient(
            database: try database.configuration(), schema: try database.schemaName(),
            options: .init(maxConnections: clients, applicationName: "muster-bench")
        )
        let queue = client.queue(queue)
        let payload = try JSONPayload(json: #"{"n":1}"#)
        let jobs = JobCounter()
        let workload = self.workload
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        switch workload {
                        case .send1:
                            try await queue.send(OutgoingMessage(payload: payload))
                        case .send100:
                            try await queue.send(Array(repeating: OutgoingMessage(payload: payload), count: 100))
                        case .read1ack, .read10ack:
                            let messages = try await queue.read(limit: workload.jobsPerIteration)
                            guard !messages.isEmpty else { throw CommandFailure(message: "bench queue ran dry", status: 1) }
                            try await queue.ack(messages.map(\.lease))
                            jobs.count.add(messages.count, ordering: .relaxed)
                            continue
                        }
                        jobs.count.add(workload.jobsPerIteration, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        await client.shutdown()
        print(String(format: "%.1f", Double(jobs.count.load(ordering: .relaxed)) / elapsedSeconds))
    }
}

/// Jobs completed by all benchmark clients.
private final class JobCounter: Sendable {
    let count = Atomic<Int>(0)
}
