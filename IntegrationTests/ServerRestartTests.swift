import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// DESIGN.md: a restarted server loses nothing. A pipeline runs on its own throwaway cluster
/// (not the suite's shared server), which is stopped and started again mid-run; every
/// execution still completes with the expected output, every part counted once.
@Suite struct ServerRestartTests {
    /// `muster embedded …` on a private cluster directory.
    private func embedded(_ arguments: [String], _ directory: String) async throws -> String {
        let result = try await ChildProcess.run(["embedded"] + arguments + ["--dir", directory])
        try #require(result.status == 0, "embedded \(arguments): \(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aPipelineRunningThroughAServerRestartCompletesWithEveryPartCountedOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-restart-\(UUID().uuidString.prefix(8))").path
        let url = try await embedded(["start", "--fast", "--url"], directory)
        do {
            try await runPipeline(url: url, restarting: directory)
            _ = try await embedded(["destroy"], directory)
        } catch {
            _ = try? await embedded(["destroy"], directory)
            throw error
        }
    }

    private func runPipeline(url: String, restarting directory: String) async throws {
        let database = try DatabaseConfiguration(url)
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
        _ = try await embedded(["stop"], directory)
        try await Task.sleep(for: .milliseconds(500))
        _ = try await embedded(["start", "--fast"], directory)

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
