import Foundation

/// One stage of a pipeline with its types erased to JSON: what the worker runs.
struct PipelineStage: Sendable {
    let name: String
    let onPartFailure: PartFailurePolicy
    /// Stage input → part payloads.
    let split: @Sendable (JSONPayload, HandlerContext) async throws -> [JSONPayload]
    /// Part payload → part result.
    let process: @Sendable (JSONPayload, HandlerContext) async throws -> JSONPayload
    /// Stage input and part results (in part order) → stage output.
    let aggregate: @Sendable (JSONPayload, [JSONPayload], HandlerContext) async throws -> JSONPayload

    /// Part keys are the part's index, zero-padded so that key order is part order.
    static func partKey(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// Pipeline and stage names become execution, barrier and task names.
    static func validate(name: String, what: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
        guard (1...100).contains(name.count), name.allSatisfy(allowed.contains) else {
            throw MusterError(.invalidArgument, "\(what) must be 1-100 letters, digits, _ . : or - (got \(name.debugDescription))")
        }
    }
}

extension Pipeline {
    // Task names are `/`-separated, which no pipeline or stage name may contain, and differ
    // in their number of segments: no stage name can make two tasks collide.

    /// The task of an execution's first message, which splits the first stage.
    var startTask: String { "\(name)/start" }

    /// The task of a stage's part messages.
    func partTask(_ stage: PipelineStage) -> String { "\(name)/\(stage.name)/part" }

    /// The task of a stage's aggregating callback.
    func aggregateTask(_ stage: PipelineStage) -> String { "\(name)/\(stage.name)/aggregate" }

    /// Every task the pipeline's messages carry.
    var tasks: [String] { [startTask] + stages.flatMap { [partTask($0), aggregateTask($0)] } }

    /// The fan-out of stage `index` of an execution: one member per part, and the stage's
    /// input carried by the callback message for the aggregate.
    func fanOut(stage index: Int, executionID: UUID, input: JSONPayload, parts: [JSONPayload]) -> FanOut {
        let stage = stages[index]
        return FanOut(
            executionID: executionID,
            name: stage.name,
            memberQueue: queue,
            memberTask: partTask(stage),
            members: parts.enumerated().map { FanOut.Member(key: PipelineStage.partKey($0.offset), payload: $0.element) },
            callbackQueue: queue,
            callbackTask: aggregateTask(stage),
            callbackPayload: input,
            onFailure: stage.onPartFailure.barrierPolicy
        )
    }
}
