import Foundation
import Muster

/// What `muster demo` reports at the end, and its verdict. Counts come from the tables (one
/// `ExecutionSetStats` query over the run's executions); outputs are compared with the
/// report computed directly from each corpus.
struct DemoSummary: Codable {
    var executions: Int
    var completed: Int
    var failed: Int
    var partsPerExecution: Int
    var workers: Int
    /// Messages acked (the demo queue archives on ack): every start, part and aggregate.
    var messages: Int
    var expectedMessages: Int
    /// Deliveries beyond each message's first: transient failures, kills, snoozes.
    var retries: Int
    /// Lost-lease warnings the workers logged: 0 without faults.
    var leaseLossWarnings: Int
    var deadLetters: Int
    var messagesLeft: Int
    var barriers: Int
    var barriersFinalized: Int
    /// Callback messages acked: exactly one per barrier when nothing ran twice or got lost.
    var callbacks: Int
    /// Parts completed of parts armed, over every stage.
    var partsDone: Int
    var parts: Int
    var outputsMatching: Int
    var processingSeconds: Double
    var wallSeconds: Double
    var messagesPerSecond: Double
    var chaos: DemoChaos.Counts?
    /// Lowercase, as PostgreSQL prints them.
    var executionIDs: [String]
    var problems: [String]
    var correct: Bool { problems.isEmpty }

    /// Checks the run: every execution completed with the expected output, one finalized
    /// callback per barrier, every message acked once, nothing dead-lettered or left over.
    init(
        stats: ExecutionSetStats, executions: [Execution], corpora: [Corpus], workers: Int,
        processing: Double, wall: Double, chaos: DemoChaos.Counts?, leaseLossWarnings: Int
    ) {
        let expectedReports = corpora.map { $0.expectedReport() }
        let outputs = executions.map { try? $0.output?.decode(as: CorpusReport.self) }
        self.executions = corpora.count
        completed = stats.count(.completed)
        failed = stats.count(.failed) + stats.count(.canceled)
        partsPerExecution = corpora.first?.chunks ?? 0
        self.workers = workers
        messages = stats.messagesArchived
        // Per execution: its start, one message per part of each stage, one aggregate per stage.
        expectedMessages = corpora.map { 1 + $0.chunks + 1 + $0.documents + 1 }.reduce(0, +)
        retries = stats.retries
        self.leaseLossWarnings = leaseLossWarnings
        deadLetters = stats.deadLetters
        messagesLeft = stats.messagesWaiting
        barriers = stats.stages.map(\.barriers).reduce(0, +)
        barriersFinalized = stats.stages.map(\.finalized).reduce(0, +)
        callbacks = stats.callbacksArchived
        partsDone = stats.stages.map(\.membersDone).reduce(0, +)
        parts = stats.stages.map(\.members).reduce(0, +)
        outputsMatching = zip(outputs, expectedReports).filter { $0 == $1 }.count
        processingSeconds = processing
        wallSeconds = wall
        messagesPerSecond = processing > 0 ? Double(messages) / processing : 0
        self.chaos = chaos
        executionIDs = executions.map { $0.id.uuidString.lowercased() }

        var problems: [String] = []
        if completed != corpora.count { problems.append("\(completed) of \(corpora.count) executions completed") }
        if failed > 0 { problems.append("\(failed) executions failed by faults (the demo's own failures are transient and retried)") }
        if chaos == nil && leaseLossWarnings > 0 { problems.append("\(leaseLossWarnings) lost-lease warnings in a run without faults") }
        if outputsMatching != corpora.count { problems.append("\(outputsMatching) of \(corpora.count) outputs match the expected report") }
        if barriers != 2 * corpora.count || barriersFinalized != barriers {
            problems.append("\(barriersFinalized) of \(barriers) barriers finalized (expected \(2 * corpora.count))")
        }
        if callbacks != barriers { problems.append("\(callbacks) callbacks acked for \(barriers) barriers") }
        let expectedParts = corpora.map { $0.chunks + $0.documents }.reduce(0, +)
        if parts != expectedParts || partsDone != parts { problems.append("\(partsDone) of \(parts) parts done, expected \(expectedParts)") }
        if messages != expectedMessages { problems.append("\(messages) messages acked, expected exactly \(expectedMessages)") }
        if deadLetters > 0 { problems.append("\(deadLetters) messages dead-lettered") }
        if messagesLeft > 0 { problems.append("\(messagesLeft) messages still queued") }
        self.problems = problems
    }

    /// The human summary, on stdout.
    /// `databaseOption` is what the printed `muster` command needs to reach the same database.
    func print(psql: String, schema: String, databaseOption: String) {
        let n = DemoProgress.number
        var lines = [
            "",
            "Summary",
            "  executions    \(n(completed)) completed, \(n(failed)) failed (of \(n(executions)); \(n(partsPerExecution)) parts each, 2 stages, \(workers) workers)",
            "  messages      \(n(messages)) acked of \(n(expectedMessages)) expected, \(n(messagesLeft)) left in the queue",
            "  retries       \(n(retries)) redeliveries (transient failures, expired leases, snoozes)",
            "  lease losses  \(n(leaseLossWarnings)) lost-lease warnings\(chaos == nil ? " (must be 0 without faults)" : "")",
            "  dead letters  \(n(deadLetters))",
            "  parts         \(n(partsDone)) of \(n(parts)) done, each counted once",
            "  callbacks     \(n(callbacks)) acked for \(n(barriers)) barriers (\(n(barriersFinalized)) finalized)",
            "  output        \(n(outputsMatching)) of \(n(executions)) reports equal the one computed directly",
        ]
        if let chaos {
            let killed = "\(n(chaos.kills)) worker processes killed (\(n(chaos.claimHolderKills)) mid-split, holding a claim; "
                + "\(n(chaos.leasesHeldByKilled)) leases held) and restarted"
            lines.append("  chaos         \(killed), \(n(chaos.terminations)) connections terminated, \(n(chaos.restarts)) server restarts")
            lines.append("  faults        \(n(failed)) executions failed by faults")
        }
        let seconds = { (value: Double) in String(format: "%.1f s", value) }
        lines.append("  wall time     \(seconds(processingSeconds)) processing (\(n(Int(messagesPerSecond))) msg/s), \(seconds(wallSeconds)) in all")
        lines.append(correct ? "  result        correct" : "  result        WRONG: " + problems.joined(separator: "; "))
        let example = executionIDs.first ?? "…"
        lines += [
            "",
            "Look at what it left behind:",
            "  \(psql)",
            "  SELECT * FROM \(schema).execution_overview ORDER BY created_at DESC LIMIT 5;",
            "  SELECT * FROM \(schema).barrier_progress WHERE execution_id = '\(example)';",
            "  SELECT * FROM \(schema).execution_timeline('\(example)');",
            "or: muster execution show \(example)\(databaseOption)   (swift run muster … from the checkout)",
        ]
        Swift.print(lines.joined(separator: "\n"))
    }
}
