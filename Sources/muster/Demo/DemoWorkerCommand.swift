import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster demo-worker`: one worker process of the demo pipeline, started (and, under
/// `--chaos`, killed and restarted) by `muster demo`. Runs until SIGTERM/SIGINT.
struct DemoWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-worker", abstract: "A worker process of the demo pipeline (started by muster demo).", shouldDisplay: false
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var worker: DemoWorkerOptions
    @Option(name: .customLong("application-name"), help: "application_name of its connections.") var applicationName = "muster-demo-worker"

    func run() async throws {
        let client = try database.client(maxConnections: worker.effectiveConcurrency + 2, applicationName: applicationName)
        try await runUntilSignalled([try worker.makeWorker(client: client, logger: Logger(label: "muster"))], logger: Logger(label: "muster.demo-worker"))
        await client.shutdown()
    }
}

/// How each demo worker runs: shared by in-process workers and worker processes. Options left
/// out get defaults that depend on `--chaos` (`resolved(chaos:)`): chaos runs fewer, slower
/// handlers with short claims, so that kills land while work is in flight.
struct DemoWorkerOptions: ParsableArguments {
    @Option(help: "Handlers each worker runs at once (default 8; 2 with --chaos).") var concurrency: Int?
    @Option(name: .customLong("work-ms"), help: "Simulated I/O per part, in milliseconds (default 5; 200 with --chaos).")
    var workMilliseconds: Int?
    @Option(name: .customLong("fail-rate"), help: "Chance that a part's delivery fails transiently and is retried.")
    var failRate = 0.02
    @Option(name: .customLong("claim-ttl"), help: "Orchestration claim length in seconds (default 30; 3 with --chaos).")
    var claimTTL: Int?

    func validate() throws {
        guard (1...256).contains(concurrency ?? 1) else { throw ValidationError("--concurrency must be between 1 and 256") }
        guard (0..<0.5).contains(failRate) else { throw ValidationError("--fail-rate must be at least 0 and below 0.5") }
        guard (0...60_000).contains(workMilliseconds ?? 0) else { throw ValidationError("--work-ms must be between 0 and 60000") }
        guard (1...3600).contains(claimTTL ?? 1) else { throw ValidationError("--claim-ttl must be between 1 and 3600") }
    }

    /// These options with every default filled in.
    func resolved(chaos: Bool) -> DemoWorkerOptions {
        var options = self
        options.concurrency = concurrency ?? (chaos ? 2 : 8)
        options.workMilliseconds = workMilliseconds ?? (chaos ? 200 : 5)
        options.claimTTL = claimTTL ?? (chaos ? 3 : 30)
        return options
    }

    var effectiveConcurrency: Int { concurrency ?? 8 }

    /// Command-line arguments that give a worker process these options.
    var arguments: [String] {
        var arguments = ["--fail-rate", "\(failRate)"]
        if let concurrency { arguments += ["--concurrency", "\(concurrency)"] }
        if let workMilliseconds { arguments += ["--work-ms", "\(workMilliseconds)"] }
        if let claimTTL { arguments += ["--claim-ttl", "\(claimTTL)"] }
        return arguments
    }

    /// The pipeline as these workers run it.
    var pipeline: Pipeline<Corpus, CorpusReport> {
        DemoPipeline.make(.init(work: .milliseconds(workMilliseconds ?? 5), failureRate: failRate))
    }

    /// A worker of the demo queue with the demo pipeline registered, logging to `logger`.
    ///
    /// No prefetch: the demo's workers are killed every second or so under `--chaos`, and every
    /// lease a killed worker held comes back with an attempt used, prefetched messages whose
    /// handler never ran included. With the default prefetch a message could be caught in the
    /// prefetch of `--max-attempts` dying workers and dead-lettered though nothing failed.
    func makeWorker(client: MusterClient, logger: Logger) throws -> Worker {
        var worker = Worker(
            client: client, queue: DemoPipeline.queue,
            options: WorkerOptions(concurrency: effectiveConcurrency, batchSize: effectiveConcurrency, prefetch: 0, pollInterval: .milliseconds(250)),
            logger: logger
        )
        try worker.register(pipeline, claimTTL: .seconds(claimTTL ?? 30))
        return worker
    }
}

