import Foundation

/// A typed multi-stage pipeline: each stage splits its input into parts, processes every
/// part in parallel (one barrier member each) and aggregates the parts' results into its
/// output, which is the next stage's input. The last stage's output is the execution's.
///
/// ```swift
/// let wordCount = Pipeline("word-count", queue: "documents", input: Corpus.self)
///     .stage("chunks") { corpus, _ in corpus.chunks }
///         process: { chunk, _ in chunk.wordCount }
///         aggregate: { _, counts, _ in counts.reduce(0, +) }
/// ```
///
/// The pipeline is a definition only: `MusterClient.start(_:input:)` starts executions of it,
/// and `Worker.register(_:)` runs them. Guarantees (each backed by an integration test):
/// - a stage's parts are sent once per execution, with the barrier armed, in one statement (a
///   claim keeps two workers from splitting the first stage at once, and its tombstone
///   commits with the first stage's parts; a split may run again after a crash before that
///   commit, so it should be deterministic, but only one run's parts are ever sent; a start
///   message redelivered while another worker holds the claim waits for it without using
///   an attempt);
/// - a part's result is recorded once however often its message is delivered;
/// - a stage's aggregate is committed once: the next stage's fan-out, or the execution's
///   completion with its output, happens in the transaction that finalizes the barrier;
/// - a part that fails for good fails the execution (by default), and so does a split or
///   aggregate that fails for good; nothing is left hanging.
public struct Pipeline<Input: Codable & Sendable, Output: Codable & Sendable>: Sendable {
    /// The pipeline's name: `executions.pipeline`, and the prefix of its task names.
    public let name: String
    /// The queue all its messages go to: orchestration, parts and aggregates.
    public let queue: QueueName
    let stages: [PipelineStage]

    init(name: String, queue: QueueName, stages: [PipelineStage]) {
        self.name = name
        self.queue = queue
        self.stages = stages
    }

    /// The names of its stages, in order (they are the barrier names of each execution).
    public var stageNames: [String] { stages.map(\.name) }

    /// Adds a stage that takes this pipeline's output so far as its input.
    ///
    /// - Parameters:
    ///   - name: the stage's name, unique in the pipeline; 1–100 of `A-Za-z0-9_.:-`.
    ///   - onPartFailure: what a part that fails for good (dead-lettered) does.
    ///   - split: the stage input's parts (at most `Barriers.maxMembers`); none is allowed,
    ///     the aggregate then gets no results.
    ///   - process: one part's result; retried with backoff when it throws.
    ///   - aggregate: the stage's output from its input and the parts' results, in part order.
    public func stage<Part: Codable & Sendable, PartResult: Codable & Sendable, Next: Codable & Sendable>(
        _ name: String,
        onPartFailure: PartFailurePolicy = .failExecution,
        split: @escaping @Sendable (Output, HandlerContext) async throws -> [Part],
        process: @escaping @Sendable (Part, HandlerContext) async throws -> PartResult,
        aggregate: @escaping @Sendable (Output, [PartResult], HandlerContext) async throws -> Next
    ) -> Pipeline<Input, Next> {
        let decoder = UncheckedDecoder(JSONDecoder())
        let stage = PipelineStage(
            name: name,
            onPartFailure: onPartFailure,
            split: { payload, context in
                try await split(try decoder.decode(payload), context).map { try JSONPayload(encoding: $0) }
            },
            process: { payload, context in
                try JSONPayload(encoding: try await process(try decoder.decode(payload), context))
            },
            aggregate: { payload, results, context in
                let input: Output = try decoder.decode(payload)
                let decoded: [PartResult] = try results.map { try decoder.decode($0) }
                return try JSONPayload(encoding: try await aggregate(input, decoded, context))
            }
        )
        return Pipeline<Input, Next>(name: self.name, queue: queue, stages: stages + [stage])
    }

    /// Throws `invalidArgument` for a bad pipeline or stage name, a repeated stage name, or
    /// a pipeline without stages.
    func validate() throws {
        try PipelineStage.validate(name: name, what: "pipeline name")
        guard !stages.isEmpty else {
            throw MusterError(.invalidArgument, "pipeline \(name) has no stages: add one with .stage(...)")
        }
        var seen = Set<String>()
        for stage in stages {
            try PipelineStage.validate(name: stage.name, what: "stage name")
            guard seen.insert(stage.name).inserted else {
                throw MusterError(.invalidArgument, "pipeline \(name) has two stages named \(stage.name)")
            }
        }
    }
}

extension Pipeline where Output == Input {
    /// Starts defining a pipeline named `name` whose messages go to `queue` (which must
    /// exist when it is started). Add stages with `stage(_:split:process:aggregate:)`.
    public init(_ name: String, queue: QueueName, input: Input.Type = Input.self) {
        self.init(name: name, queue: queue, stages: [])
    }
}

/// What a part that fails for good (dead-lettered after its attempts, or non-retryable) does.
public enum PartFailurePolicy: Sendable, Hashable {
    /// Fails the execution at once (the stage's barrier is fail-fast); the aggregate never runs.
    case failExecution
    /// Waits for every part and aggregates the ones that succeeded.
    case aggregateSucceeded

    var barrierPolicy: FailurePolicy {
        switch self {
        case .failExecution: .failFast
        case .aggregateSucceeded: .waitForAll
        }
    }
}
