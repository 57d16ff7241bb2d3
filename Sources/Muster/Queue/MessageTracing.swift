import Tracing

/// How a trace crosses the queue: `send` injects the sender's span context into the message's
/// headers (with an OpenTelemetry tracer, W3C `traceparent` and `tracestate`; the configured
/// tracer chooses the keys) and the worker extracts it. With no tracer bootstrapped
/// (swift-distributed-tracing's no-op default) injection writes nothing and extraction finds
/// nothing: a header lookup is the whole cost. docs/operations.md ## Monitoring lists the
/// spans and their attributes.
enum MessageTracing {
    /// The most links a barrier callback's span gets to its members' spans.
    static let maxCallbackLinks = 128

    /// Whether a tracer is bootstrapped: only then does Muster spend a statement on traces
    /// (recording a member's span for its callback's links).
    static var isEnabled: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// `headers` with `context` injected by the bootstrapped tracer.
    static func inject(_ context: ServiceContext, into headers: inout [String: String]) {
        InstrumentationSystem.tracer.inject(context, into: &headers, using: HeaderCarrier())
    }

    /// The current span's context as the headers a message carries; empty without a tracer or
    /// a current context. Computed once per send or completion, not once per message.
    static func currentHeaders() -> [String: String] {
        guard let context = ServiceContext.current, isEnabled else { return [:] }
        var headers: [String: String] = [:]
        inject(context, into: &headers)
        return headers
    }

    /// The span context a message's headers carry, or nil when they carry none.
    static func extract(_ headers: [String: String]) -> ServiceContext? {
        guard !headers.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.tracer.extract(headers, into: &context, using: HeaderCarrier())
        return context.isEmpty ? nil : context
    }

    /// The common attributes of Muster's spans (OpenTelemetry messaging conventions where
    /// one fits).
    static func attributes(queue: QueueName, messageCount: Int) -> SpanAttributes {
        var attributes = SpanAttributes()
        attributes["messaging.system"] = "muster"
        attributes["messaging.destination.name"] = queue.rawValue
        if messageCount != 1 { attributes["messaging.batch.message_count"] = messageCount }
        return attributes
    }
}

/// Reads and writes trace keys in a message's string headers.
struct HeaderCarrier: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }

    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
