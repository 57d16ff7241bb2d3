import Foundation
import Logging
import Tracing

/// The span a handler runs in, while a tracer is bootstrapped (without one, `run` only calls
/// the body). Named `process <queue>` (kind consumer): on a message's first attempt it is a
/// child of the sender's span (from the headers), on a later attempt the root of a new trace
/// linked to the sender's (a retry is its own unit of work, hours later perhaps); a barrier
/// callback's span also links to its members' spans (at most
/// `MessageTracing.maxCallbackLinks`). A failed delivery ends it with error status.
enum HandlerSpan {
    static func run(
        _ message: ReceivedMessage,
        task: String,
        queue: QueueName,
        barriers: Barriers,
        logger: Logger,
        _ body: () async -> DeliveryOutcome
    ) async -> DeliveryOutcome {
        guard MessageTracing.isEnabled else { return await body() }
        let sender = MessageTracing.extract(message.headers)
        let firstAttempt = message.attempt == 1
        let span = InstrumentationSystem.tracer.startSpan(
            "process \(queue.rawValue)", context: (firstAttempt ? sender : nil) ?? .topLevel, ofKind: .consumer)
        let barrierID = message.headers["muster-barrier"].flatMap { Int64($0) }
        span.updateAttributes { attributes in
            attributes.merge(MessageTracing.attributes(queue: queue, messageCount: 1))
            attributes["messaging.message.id"] = "\(message.id)"
            attributes["muster.task"] = task
            attributes["muster.attempt"] = message.attempt
            attributes["muster.execution.id"] = message.executionID.map { $0.uuidString.lowercased() }
            attributes["muster.barrier.id"] = barrierID.map { "\($0)" }
            attributes["muster.member.key"] = message.headers["muster-member"]
        }
        if !firstAttempt, let sender {
            span.addLink(SpanLink(context: sender, attributes: [:]))
        }
        if let barrierID, message.headers["muster-callback"] != nil {
            do {
                for trace in try await barriers.memberTraces(of: barrierID, limit: MessageTracing.maxCallbackLinks) {
                    if let member = MessageTracing.extract(trace) { span.addLink(SpanLink(context: member, attributes: [:])) }
                }
            } catch {
                logger.debug("could not read the members' traces; the callback's span has no links to them", metadata: ["error": "\(error)"])
            }
        }
        let outcome = await ServiceContext.$current.withValue(span.context) { await body() }
        switch outcome {
        case .failed(let reason, _), .settleRefused(let reason):
            span.setStatus(SpanStatus(code: .error, message: reason))
        case .leaseLost:
            span.setStatus(SpanStatus(code: .error, message: "lease lost"))
        case .succeeded, .snoozed, .interrupted:
            break
        }
        span.end()
        return outcome
    }
}
