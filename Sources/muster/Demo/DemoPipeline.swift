import Foundation
import Muster

/// The demo pipeline, `corpus`: count words per chunk in parallel, aggregate per document,
/// then summarise every document in parallel and aggregate the corpus report.
///
///     start ─ split ─▶ chunks (N parts) ─ aggregate ─▶ documents (N/10 parts) ─ aggregate ─▶ report
enum DemoPipeline {
    static let name = "corpus"
    static let queue: QueueName = "demo"

    /// How the parts behave: simulated I/O per part, and transient failures (retried).
    struct Behaviour: Sendable {
        /// Time each part "waits on a service".
        var work: Duration
        /// Chance that a part's delivery throws a transient error.
        var failureRate: Double
    }

    struct TransientFailure: Error, CustomStringConvertible {
        var description: String { "simulated transient failure (the demo's --fail-rate)" }
    }

    static func make(_ behaviour: Behaviour) -> Pipeline<Corpus, CorpusReport> {
        @Sendable func work() async throws {
            if behaviour.work > .zero { try await Task.sleep(for: behaviour.work) }
            if Double.random(in: 0..<1) < behaviour.failureRate { throw TransientFailure() }
        }
        return Pipeline(name, queue: queue, input: Corpus.self)
            .stage("chunks") { corpus, _ in
                // Reading the corpus takes a moment, under the start step's claim.
                if behaviour.work > .zero { try await Task.sleep(for: behaviour.work) }
                return corpus.chunkRefs
            } process: { chunk, _ in
                try await work()
                return chunk.count()
            } aggregate: { _, chunks, _ in
                DocumentSet(chunks: chunks)
            }
            .stage("documents") { set, _ in
                set.documents
            } process: { document, _ in
                try await work()
                return document.summary()
            } aggregate: { set, summaries, _ in
                CorpusReport(documents: set, summaries: summaries)
            }
    }
}
