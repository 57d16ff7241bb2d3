import Foundation
import Muster
import Synchronization

/// The barrier workloads of `muster bench` (scripts/bench/barrier.sh runs pgbench beside them).
extension BenchCommand {
    private func benchClient(connections: Int) throws -> MusterClient {
        try database.client(maxConnections: connections, applicationName: "muster-bench")
    }

    /// Members `m1`…`mN` with payload `{"n": i}`, as the pgbench side generates them.
    private func fanOutSpec(_ execution: UUID, members count: Int) throws -> FanOut {
        FanOut(
            executionID: execution, name: "stage", memberQueue: queue, memberTask: "member",
            members: try (0..<count).map { FanOut.Member(key: "m\($0 + 1)", payload: try JSONPayload(encoding: BenchPart(n: $0 + 1))) },
            callbackQueue: callbackQueue, callbackTask: "aggregate"
        )
    }

    /// Arms one barrier of `--members` members; prints the seconds the call took.
    func fanOut() async throws {
        let client = try benchClient(connections: 1)
        let execution = try await client.executions.create(pipeline: "bench").id
        let started = ContinuousClock.now
        try await client.barriers.fanOut(try fanOutSpec(execution, members: members))
        let elapsed = ContinuousClock.now - started
        await client.shutdown()
        print(String(format: "%.3f", Self.seconds(elapsed)))
    }

    /// Arms a barrier, leases every member, then `--clients` tasks complete them for
    /// `--seconds`: one statement per member (fenced ack + member record + counter), or with
    /// `--batch N` one statement per N members (what a worker's group commit sends).
    func fanIn() async throws {
        let client = try benchClient(connections: clients + 1)
        let execution = try await client.executions.create(pipeline: "bench").id
        let barrier = try await client.barriers.fanOut(try fanOutSpec(execution, members: members)).barrierID
        if staleStatistics { try await analyzeTables(client) }
        var leased: [ReceivedMessage] = []
        while leased.count < members {
            let batch = try await client.queue(queue).read(limit: 1000, visibilityTimeout: .seconds(3600))
            guard !batch.isEmpty else { break }
            leased += batch
        }
        if analyze { try await analyzeTables(client) }
        let work = leased.map { (lease: $0.lease, key: $0.headers["muster-member"] ?? "") }
        let next = JobCounter()
        let barriers = client.barriers
        let queue = self.queue
        let batch = self.batch
        let perSecond = try await Self.rate(clients: clients, seconds: seconds) {
            let first = next.count.add(batch, ordering: .relaxed).oldValue
            guard first + batch <= work.count else { throw CommandFailure(message: "bench barrier ran out of members", status: 1) }
            if batch == 1 {
                try await barriers.complete(queue: queue, lease: work[first].lease, barrierID: barrier,
                                            memberKey: work[first].key, result: .emptyObject)
            } else {
                try await barriers.completeSucceeded(queue: queue, work[first..<first + batch].map {
                    .init(lease: $0.lease, barrierID: barrier, key: $0.key, result: .emptyObject)
                })
            }
            return batch
        }
        await client.shutdown()
        print(String(format: "%.1f", perSecond))
    }

    /// ANALYZE of the tables a fan-in touches.
    private func analyzeTables(_ client: MusterClient) async throws {
        let schema = try database.schemaName().quoted
        _ = try await client.withTransaction { tx in
            try await tx.execute("ANALYZE \(schema).messages, \(schema).barrier_members, \(schema).barriers, \(schema).message_keys")
        }
    }

    /// One-member fan-outs, one after another, with a member worker and a callback worker
    /// running: the time from the member handler returning (its completion is the last) to
    /// the callback handler starting. Prints "p50 p99" in ms.
    func callbackLatency() async throws {
        let client = try benchClient(connections: 6)
        let completedAt = Mutex<[Int64: Double]>([:])
        let latencies = LatencySamples()
        var members = Worker(client: client, queue: queue, options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(100)))
        members.registerMember(task: "member", as: BenchPart.self) { _, context in
            completedAt.withLock { $0[context.barrierID ?? 0] = Date().timeIntervalSince1970 }
            return 0
        }
        var callbacks = Worker(client: client, queue: callbackQueue, options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(100)))
        callbacks.registerCallback(task: "aggregate", as: JSONPayload.Ignored.self) { _, callback, _ in
            let now = Date().timeIntervalSince1970
            if let then = completedAt.withLock({ $0[callback.barrier.id] }) { latencies.add(now - then) }
        }
        let running = [members, callbacks].map { worker in Task { try await worker.run() } }
        try await Task.sleep(for: .milliseconds(500))
        for sample in 0..<samples {
            let execution = try await client.executions.create(pipeline: "bench").id
            try await client.barriers.fanOut(try fanOutSpec(execution, members: 1))
            let deadline = ContinuousClock.now + .seconds(5)
            while latencies.count <= sample && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        running.forEach { $0.cancel() }
        for task in running { _ = await task.result }
        await client.shutdown()
        let (p50, p99) = latencies.percentiles()
        print(String(format: "%.2f %.2f", p50 * 1000, p99 * 1000))
    }
}

/// A member payload of the benchmark.
struct BenchPart: Codable, Sendable {
    var n: Int
}
