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
        /// A no-op Worker drains the queue; prints jobs/s.
        case drain
        /// Single sends at `--rate` per second to a no-op Worker; prints p50 and p99 ms.
        case latency
        /// The same with plain SQL on MusterPostgres: the pickup latency floor.
        case latencyFloor = "latency-floor"
        /// Fans out `--members` members in one call; prints seconds.
        case fanout
        /// `--clients` completers complete members of one barrier for `--seconds`; prints completions/s.
        case fanin
        /// Last member completion → callback handler start, `--samples` times; prints p50 and p99 ms.
        case callback
        /// Sends at `--rate` to a no-op Worker for `--seconds` with a snapshot held through the
        /// middle third; prints a CSV line every `--sample-seconds` (scripts/bench/soak.sh).
        case soak

        /// Jobs one iteration completes.
        var jobsPerIteration: Int {
            switch self {
            case .send1, .read1ack: return 1
            case .send100: return 100
            case .read10ack: return 10
            case .drain, .latency, .latencyFloor, .fanout, .fanin, .callback, .soak: return 1
            }
        }
    }

    @OptionGroup var database: DatabaseOptions
    @Option var workload: Workload
    @Option var queue: QueueName = "bench"
    @Option var clients = 1
    @Option var seconds = 8.0
    @Option(help: "drain/latency: worker concurrency.") var concurrency = 16
    @Flag(help: "drain: batch 10, prefetch 10 - concurrency, poll 50 ms instead of WorkerOptions() defaults.") var tuned = false
    @Option(help: "latency, soak: sends per second.") var rate = 50.0
    @Option(name: .customLong("sample-seconds"), help: "soak: seconds between samples.") var sampleSeconds = 10.0
    @Flag(name: .customLong("without-snapshot"), help: "soak: hold no snapshot (the calibration run).")
    var withoutSnapshot = false
    @Option(help: "latency: false polls every --poll-interval instead of LISTEN.") var listen = true
    @Option(name: .customLong("poll-interval")) var pollInterval: DurationArgument?
    @Option(help: "fanout/fanin: members of the barrier.") var members = 100_000
    @Flag(help: "fanin: ANALYZE the filled tables before measuring, as the pgbench side does.") var analyze = false
    @Flag(name: .customLong("stale-statistics"), help: "fanin: ANALYZE right after the fan-out, while every member is ready, and not again.")
    var staleStatistics = false
    @Option(help: "fanin: members completed per statement (1: Barriers.complete; more: completeSucceeded, as workers group-commit).")
    var batch = 1
    @Option(help: "callback: executions measured one after another.") var samples = 100
    @Option(name: .customLong("callback-queue"), help: "fanout/fanin/callback: the callbacks' queue.") var callbackQueue: QueueName = "bench-callbacks"

    func run() async throws {
        switch workload {
        case .drain: return try await drain()
        case .latency: return try await latency()
        case .latencyFloor: return try await latencyFloor()
        case .fanout: return try await fanOut()
        case .fanin: return try await fanIn()
        case .callback: return try await callbackLatency()
        case .soak: return try await soak()
        default: return try await statements()
        }
    }

    /// Runs a no-op worker until the queue is empty (`run(until: .queueEmpty)`; other
    /// processes may share the queue); prints jobs/s. With `--tuned`, the options the
    /// benchmark used before the defaults were fast (batch 10, prefetch 10 − concurrency,
    /// poll 50 ms); otherwise `WorkerOptions()` with only the concurrency set.
    private func drain() async throws {
        let client = try database.client(maxConnections: concurrency + 2, applicationName: "muster-bench")
        let options = tuned
            ? WorkerOptions(concurrency: concurrency, batchSize: 10, prefetch: max(0, 10 - concurrency), pollInterval: .milliseconds(50))
            : WorkerOptions(concurrency: concurrency)
        var worker = Worker(client: client, queue: queue, options: options)
        let handled = JobCounter()
        worker.register(task: "noop", as: JSONValue.self) { _, _ in handled.count.add(1, ordering: .relaxed) }
        let started = ContinuousClock.now
        try await worker.run(until: .queueEmpty)
        let elapsed = ContinuousClock.now - started
        await client.shutdown()
        print(String(format: "%.1f", Double(handled.count.load(ordering: .relaxed)) / Self.seconds(elapsed)))
    }

    /// Sends one message every 1/rate s for `seconds`; a no-op worker records how long each
    /// waited from just before its send to its handler starting. Prints "p50 p99" in ms.
    private func latency() async throws {
        let client = try database.client(maxConnections: 6, applicationName: "muster-bench", useListenNotify: listen)
        let queue = client.queue(queue)
        let samples = LatencySamples()
        var worker = Worker(client: client, queue: queue.name, options: WorkerOptions(
            concurrency: 4, pollInterval: pollInterval?.duration ?? .milliseconds(100)
        ))
        worker.register(task: "stamp", as: Stamp.self) { stamp, _ in
            samples.add(Date().timeIntervalSince1970 - stamp.sentAt)
        }
        let running = Task { try await worker.run() }
        try await Task.sleep(for: .milliseconds(500))
        let count = Int(rate * seconds)
        for _ in 0..<count {
            let stamp = Stamp(sentAt: Date().timeIntervalSince1970)
            try await queue.send(OutgoingMessage(payload: try JSONPayload(encoding: stamp), task: "stamp"))
            try await Task.sleep(for: .milliseconds(Int64(1000 / rate)))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while samples.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        running.cancel()
        _ = await running.result
        await client.shutdown()
        let (p50, p99) = samples.percentiles()
        print(String(format: "%.2f %.2f", p50 * 1000, p99 * 1000))
    }

    struct Stamp: Codable, Sendable { var sentAt: Double }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func statements() async throws {
        let client = try database.client(maxConnections: clients, applicationName: "muster-bench")
        let queue = client.queue(queue)
        let payload = try JSONPayload(json: #"{"n":1}"#)
        let workload = self.workload
        let perSecond = try await Self.rate(clients: clients, seconds: seconds) {
            switch workload {
            case .send1:
                try await queue.send(OutgoingMessage(payload: payload))
                return 1
            case .send100:
                try await queue.send(Array(repeating: OutgoingMessage(payload: payload), count: 100))
                return 100
            case .read1ack, .read10ack:
                let messages = try await queue.read(limit: workload.jobsPerIteration)
                guard !messages.isEmpty else { throw CommandFailure(message: "bench queue ran dry", status: 1) }
                try await queue.ack(messages.map(\.lease))
                return messages.count
            case .drain, .latency, .latencyFloor, .fanout, .fanin, .callback, .soak:
                throw CommandFailure(message: "\(workload) is not a statement workload", status: 2)
            }
        }
        await client.shutdown()
        print(String(format: "%.1f", perSecond))
    }

    /// Runs `iteration` in `clients` concurrent loops for `seconds` and returns jobs per
    /// second (each iteration returns the jobs it completed).
    static func rate(clients: Int, seconds: Double, _ iteration: @escaping @Sendable () async throws -> Int) async throws -> Double {
        let jobs = JobCounter()
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while ContinuousClock.now < deadline { jobs.count.add(try await iteration(), ordering: .relaxed) }
                }
            }
            try await group.waitForAll()
        }
        return Double(jobs.count.load(ordering: .relaxed)) / Self.seconds(ContinuousClock.now - started)
    }
}

/// Jobs completed by all benchmark clients.
final class JobCounter: Sendable {
    let count = Atomic<Int>(0)
}

/// Latency samples from handler tasks.
final class LatencySamples: Sendable {
    private let values = Mutex<[Double]>([])
    var count: Int { values.withLock { $0.count } }
    func add(_ value: Double) { values.withLock { $0.append(value) } }
    func percentiles() -> (Double, Double) { Self.percentiles(values.withLock { $0.sorted() }) }

    /// The percentiles of the values added since the last call, which it clears.
    func takePercentiles() -> (Double, Double) {
        Self.percentiles(values.withLock { values in
            defer { values.removeAll(keepingCapacity: true) }
            return values.sorted()
        })
    }

    private static func percentiles(_ sorted: [Double]) -> (Double, Double) {
        guard !sorted.isEmpty else { return (0, 0) }
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.down)))] }
        return (at(0.5), at(0.99))
    }
}
