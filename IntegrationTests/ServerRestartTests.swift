import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md: a restarted server loses nothing. A pipeline runs on its own throwaway cluster
/// (not the suite's shared server), which is stopped and started again mid-run; every
/// execution still completes with the expected output, every part counted once.
@Suite struct ServerRestartTests {
    @Test func aPipelineRunningThroughAServerRestartCompletesWithEveryPartCountedOnce() async throws {
        try await EmbeddedServer.with { server in try await runPipeline(on: server) }
    }

    private func runPipeline(on server: EmbeddedServer) async throws {
        let database = try DatabaseConfiguration(server.url)
        try await Migrator(database: database).migrate()
        let client = MusterClient(database: database, options: .init(maxConnections: 6))
        try await client.createQueue("jobs", settings: QueueSettings(visibilityTimeout: .seconds(2), maxAttempts: 20,
                                                                   retryBackoffBase: .milliseconds(50), retryBackoffMax: .milliseconds(200)))
        let pipeline = PipelineTests.slow(queue: "jobs")
        var executions: [PipelineExecution<[Int]>] = []
        for _ in 0..<3 { executions.append(try await client.start(pipeline, input: 30)) }
        var worker = Worker(client: client, queue: "jobs", options: WorkerOptions(concurrency: 6, pollInterval: .milliseconds(100)))
        try worker.register(pipeline)
        let running = Task { try await worker.run() }
        defer { running.cancel() }

        // Restart once the parts are under way.
        try await waitUntil("10 parts done before the restart") {
            (try await client.executions.stats(of: executions.map(\.id)).stages.first?.membersDone ?? 0) >= 10
        }
        try await server.stop()
        try await server.start()

        for execution in executions {
            #expect(try await execution.result(timeout: .seconds(60)) == [30])
        }
        let stats = try await client.executions.stats(of: executions.map(\.id))
        #expect(stats.count(.completed) == 3)
        #expect(stats.stages.map(\.membersDone) == [90, 3] && stats.stages.map(\.members) == [90, 3])
        #expect(stats.stages.allSatisfy { $0.membersFailed == 0 && $0.finalized == 3 })
        #expect(stats.messagesWaiting == 0 && stats.deadLetters == 0)
        running.cancel()
        _ = await running.result
        await client.shutdown()
    }
}
