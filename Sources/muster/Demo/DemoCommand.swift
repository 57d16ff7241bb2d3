import ArgumentParser
import Foundation
import Logging
import Muster

/// `muster demo`: the main job. Installs the schema, starts executions of the two-stage
/// `corpus` pipeline, runs workers (and, with `--chaos`, kills them and cuts their
/// connections), shows progress, and checks the outputs against a direct computation.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a two-stage fan-out/fan-in pipeline and check its result.",
        discussion: """
            Without database settings (--database-url, MUSTER_DATABASE_URL, DATABASE_URL, PG*), it \
            starts and uses the embedded PostgreSQL under .muster/. Each execution counts the words \
            of a generated corpus: chunks in parallel, aggregated per document, then documents in \
            parallel, aggregated into a report that is compared with one computed directly. Exits 1 \
            when the result is not correct.

            With --chaos the workers run as processes that are SIGKILLed (first those holding an \
            orchestration claim, mid-split) and restarted while their connections are cut; on the \
            embedded server the demo also restarts it twice, fast and then immediate (a crash). \
            The summary then counts the faults, the redeliveries, the lease-lost warnings and the \
            executions failed by faults (the result is only correct when that is 0).

            Example: muster demo
                     muster demo --executions 3 --parts 20 --json
                     muster demo --chaos --visibility-timeout 5s --max-attempts 5
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Pipeline executions to run, 1 to 10000.") var executions = 20
    @Option(help: "Parts (chunks) per execution in the first stage, 1 to 100000; the second has one per 10.") var parts = 100
    @Option(help: "Workers, 1 to 64 (in-process; processes with --chaos).") var workers = 4
    @OptionGroup var worker: DemoWorkerOptions
    @Flag(help: "Kill and restart worker processes, terminate database connections and restart the embedded server during the run.")
    var chaos = false
    @Option(name: .customLong("visibility-timeout"), help: "The demo queue's visibility timeout, 1s to 12h (default 30s; 2s with --chaos).")
    var visibilityTimeout: DurationArgument?
    @Option(name: .customLong("max-attempts"), help: "The demo queue's max attempts, 1 to 1000.") var maxAttempts = 5
    @Option(help: "Give up after this long.") var timeout = DurationArgument(argument: "10m")!
    @Flag(help: "Print the summary as JSON (progress still goes to stderr).") var json = false

    func validate() throws {
        guard (1...10_000).contains(executions) else { throw ValidationError("--executions must be between 1 and 10000") }
        guard (1...100_000).contains(parts) else { throw ValidationError("--parts must be between 1 and 100000") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
        guard (1...1000).contains(maxAttempts) else { throw ValidationError("--max-attempts must be between 1 and 1000") }
        if let visibilityTimeout, !(.seconds(1) ... .seconds(43_200)).contains(visibilityTimeout.duration) {
            throw ValidationError("--visibility-timeout must be between 1s and 12h")
        }
    }

    func run() async throws {
        let began = ContinuousClock.now
        let embedded = database.databaseURL == nil && (database.embedded || DatabaseOptions.nothingConfigured)
        var options = database
        options.embedded = embedded
        let configuration = try options.configuration()
        let schema = try options.schemaName()

        let applied = try await Migrator(database: configuration, schema: schema).migrate()
        if !applied.isEmpty { Terminal.note("Installed \(applied.count) migrations into schema \(schema).") }
        // Every connection of this run is named muster-demo-<run>…, so chaos cuts only its own.
        let runID = String(UUID().uuidString.prefix(8).lowercased())
        let client = try database.client(maxConnections: 4, applicationName: "muster-demo-\(runID)", database: configuration)
        do {
            let summary = try await run(runID: runID, client: client, configuration: configuration, embedded: embedded, schema: schema, began: began)
            await client.shutdown()
            if json { try Terminal.printJSON(summary) } else { summary.print(psql: psqlLine(embedded: embedded), schema: schema.name, databaseOption: embedded ? " --embedded" : "") }
            guard summary.correct else { throw CommandFailure(message: "the demo's result is wrong: \(summary.problems.joined(separator: "; "))", status: 1) }
        } catch {
            await client.shutdown()
            throw error
        }
    }

    private func run(
        runID: String, client: MusterClient, configuration: DatabaseConfiguration, embedded: Bool, schema: SchemaName,
        began: ContinuousClock.Instant
    ) async throws -> DemoSummary {
        // Chaos kills workers: by default their leases come back fast.
        let settings = QueueSettings(
            visibilityTimeout: visibilityTimeout?.duration ?? (chaos ? .seconds(2) : .seconds(30)), maxAttempts: maxAttempts,
            retryBackoffBase: .milliseconds(50), retryBackoffMax: .seconds(1),
            maxPayloadBytes: 64 << 20, archiveOnAck: true   // a stage's input travels in its callback message
        )
        if try await !client.createQueue(DemoPipeline.queue, settings: settings) {
            try await client.updateQueue(DemoPipeline.queue, settings: settings)
        }
        let workerOptions = worker.resolved(chaos: chaos)

        // The executions: one corpus each, started with idempotency keys of this run.
        let corpora = (0..<executions).map { Corpus(seed: UInt64.random(in: 1...UInt64.max / 2) + UInt64($0), parts: parts) }
        let pipeline = workerOptions.pipeline
        Terminal.note("Running \(executions) executions of pipeline \(DemoPipeline.name) (\(parts) chunks each) with \(workers) \(chaos ? "worker processes, under chaos" : "workers").")
        let started = ContinuousClock.now
        var ids: [UUID] = []
        for (index, corpus) in corpora.enumerated() {
            let summary = try JSONPayload(encoding: ["chunks": corpus.chunks, "documents": corpus.documents])
            ids.append(try await client.start(pipeline, input: corpus, idempotencyKey: "demo-\(runID)-\(index)", summary: summary).id)
        }

        let leaseLosses = LeaseLossTally()
        let workerSet = try DemoWorkers(
            count: workers, processes: chaos, applicationName: "muster-demo-\(runID)-worker",
            processArguments: try databaseArguments(embedded: embedded) + workerOptions.arguments,
            makeClient: { [database] in
                try database.client(maxConnections: workerOptions.effectiveConcurrency + 2, applicationName: $0, database: configuration)
            },
            makeWorker: { try workerOptions.makeWorker(client: $0, logger: leaseLosses.logger(label: "muster")) },
            reaper: Reaper(client: client, options: ReaperOptions(leaseTTL: .seconds(5), sweepInterval: .seconds(1)))
        )
        let monkey = chaos ? DemoChaos(workers: workerSet, client: try database.client(
            maxConnections: 1, applicationName: "muster-chaos", database: configuration
        ), connections: "muster-demo-\(runID)", server: embedded ? EmbeddedPostgres(directory: EmbeddedPostgres.defaultDirectory) : nil) : nil
        var progress = DemoProgress(
            stages: [("chunks", corpora.map(\.chunks).reduce(0, +)), ("documents", corpora.map(\.documents).reduce(0, +))],
            executions: executions
        )
        var failure: (any Error)?
        do {
            let parts = corpora.map { $0.chunks + $0.documents }.reduce(0, +)
            try await waitForExecutions(ids, parts: parts, client: client, workers: workerSet, chaos: monkey, progress: &progress, since: started)
        } catch {
            failure = error
        }
        let processing = Self.seconds(ContinuousClock.now - started)
        await monkey?.stop()
        await workerSet.stop()
        if let failure { throw failure }

        var finished: [Execution] = []
        for id in ids { if let execution = try await client.executions.get(id) { finished.append(execution) } }
        return DemoSummary(
            stats: try await client.executions.stats(of: ids), executions: finished, corpora: corpora, workers: workers,
            processing: processing, wall: Self.seconds(ContinuousClock.now - began), chaos: monkey?.current,
            leaseLossWarnings: leaseLosses.count + (chaos ? LeaseLossTally.count(inLog: workerSet.logPath) : 0)
        )
    }

    /// Shows progress until every execution is terminal, and tells chaos how far the `parts`
    /// have come; throws when a worker process died on its own or the timeout passed. While
    /// the server is unavailable (chaos restarts it) it keeps waiting.
    private func waitForExecutions(
        _ ids: [UUID], parts: Int, client: MusterClient, workers: DemoWorkers, chaos: DemoChaos?,
        progress: inout DemoProgress, since started: ContinuousClock.Instant
    ) async throws {
        while true {
            if let status = workers.unexpectedExits().first {
                throw CommandFailure(message: "a worker process exited on its own (status \(status)); its output is in \(workers.logPath)", status: 1)
            }
            guard ContinuousClock.now - started < timeout.duration else {
                throw CommandFailure(message: "the demo did not finish within \(timeout.duration); see `muster status`", status: 1)
            }
            do {
                let stats = try await client.executions.stats(of: ids)
                let finished = stats.count(.completed) + stats.count(.failed) + stats.count(.canceled)
                chaos?.update(progress: Double(stats.stages.map(\.membersDone).reduce(0, +)) / Double(max(parts, 1)))
                progress.show(stats, elapsed: Self.seconds(ContinuousClock.now - started), chaos: chaos?.current, final: finished == ids.count)
                if finished == ids.count { return }
            } catch let error as MusterError where error.isServerUnavailable && chaos != nil {
                // The server is restarting; the workers ride it out, and so does the progress.
            }
            try await Task.sleep(for: progress.interval)
        }
    }

    /// What worker processes need to reach the same database and schema (they inherit the
    /// environment, so MUSTER_DATABASE_URL and PG* carry over by themselves). The embedded
    /// server is passed by its URL, never as `--embedded`: a worker restarted while chaos
    /// restarts the server would otherwise run `pg_ctl start` itself, race chaos' own start
    /// and exit when it loses.
    private func databaseArguments(embedded: Bool) throws -> [String] {
        var arguments = database.forwardedArguments
        if embedded { arguments += ["--database-url", try EmbeddedPostgres(directory: EmbeddedPostgres.defaultDirectory).status().url] }
        if let url = database.databaseURL { arguments += ["--database-url", url] }
        return arguments
    }

    /// How to look inside: the embedded server keeps running, so its URL works as printed.
    private func psqlLine(embedded: Bool) -> String {
        guard embedded, let url = try? EmbeddedPostgres(directory: EmbeddedPostgres.defaultDirectory).status().url else {
            return "psql \"$MUSTER_DATABASE_URL\"   # or your --database-url"
        }
        return "psql '\(url)'"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
