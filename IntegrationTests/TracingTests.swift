import Foundation
import InMemoryTracing
import Muster
import Testing
import Tracing

/// True in scripts/test.sh's tracing phase, the only one that bootstraps a tracer.
let tracingPhase = ProcessInfo.processInfo.environment["MUSTER_TEST_TRACING"] == "1"

/// Trace context across the queue, with swift-distributed-tracing's in-memory tracer.
///
/// Bootstrapping a tracer is global to the process, so these tests run alone in their own
/// phase of scripts/test.sh (MUSTER_TEST_TRACING=1); every other phase runs without a tracer,
/// as most applications do. The sending client and the worker's client are two clients with
/// their own connections, and the worker runs in a task started outside the sender's span:
/// the only way the context can reach the handler is the message's headers.
@Suite(.enabled(if: tracingPhase, "runs in test.sh's tracing phase (MUSTER_TEST_TRACING=1)"), .serialized)
struct TracingTests {

    /// One tracer for the process, with ids unique across runs.
    static let tracer: InMemoryTracer = {
        let tracer = InMemoryTracer(idGenerator: .init(
            nextTraceID: { UUID().uuidString.lowercased() }, nextSpanID: { UUID().uuidString.lowercased() }
        ))
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()

    struct Part: Codable, Sendable { var n: Int }
    struct Nothing: Codable, Sendable {}
    struct FirstAttemptFails: Error {}

    /// A span attribute as text (the tests compare ids and attempts).
    func attribute(_ span: FinishedInMemorySpan, _ key: String) -> String? {
        switch span.attributes[key]?.toSpanAttribute() {
        case .string(let text): text
        case .int64(let number): "\(number)"
        case .int32(let number): "\(number)"
        default: nil
        }
    }

    @Test func theHandlersSpanIsAChildOfTheSendersSpanInAnotherClient() async throws {
        let tracer = Self.tracer
        try await QueueFixture.with { fixture in
            let worker = try TestDatabase.client(schema: fixture.schema)
            defer { Task { await worker.shutdown() } }
            let handled = Locked<[String: String]>([:])
            var consumer = Worker(client: worker, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            consumer.register(task: "work", as: Part.self) { part, context in
                handled.withLock { $0 = context.headers }
            }
            _ = try await withSpan("request to handle") { _ in
                try await fixture.queue.send(OutgoingMessage(payload: try JSONPayload(encoding: Part(n: 1)), task: "work"))
            }
            try await run(consumer, until: "the message handled") { !handled.value.isEmpty }

            let spans = tracer.finishedSpans
            // Spans of other tests share the tracer: start from this test's own root.
            let request = try #require(spans.first { $0.operationName == "request to handle" })
            let send = try #require(spans.first { $0.operationName == "send jobs" && $0.parentSpanID == request.spanID })
            #expect(send.kind == .producer && send.traceID == request.traceID)
            let process = try #require(spans.first { $0.operationName == "process jobs" && $0.parentSpanID == send.spanID })
            #expect(process.kind == .consumer)
            #expect(process.traceID == send.traceID)
            #expect(process.links.isEmpty)
            // The trace travelled in the headers, under the tracer's keys.
            #expect(handled.value[InMemoryTracer.spanIDKey] == send.spanID)
        }
    }

    @Test func aRetryStartsANewTraceLinkedToTheSender() async throws {
        let tracer = Self.tracer
        try await QueueFixture.with(settings: QueueSettings(retryBackoffBase: .zero, retryBackoffMax: .zero)) { fixture in
            let attempts = Locked<[Int]>([])
            var consumer = Worker(client: fixture.client, queue: fixture.queue.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            consumer.register(task: "flaky", as: Part.self) { _, context in
                attempts.withLock { $0.append(context.attempt) }
                if context.attempt == 1 { throw FirstAttemptFails() }
            }
            _ = try await withSpan("request to retry") { _ in
                try await fixture.queue.send(OutgoingMessage(payload: try JSONPayload(encoding: Part(n: 2)), task: "flaky"))
            }
            try await run(consumer, until: "the second attempt succeeded") {
                guard attempts.value.count == 2 else { return false }
                return try await fixture.count("messages") == 0
            }

            let spans = tracer.finishedSpans
            let request = try #require(spans.first { $0.operationName == "request to retry" })
            let send = try #require(spans.first { $0.operationName == "send jobs" && $0.parentSpanID == request.spanID })
            let first = try #require(spans.first { $0.operationName == "process jobs" && $0.parentSpanID == send.spanID })
            #expect(attribute(first, "muster.attempt") == "1")
            #expect(first.status?.code == .error)
            let retry = try #require(spans.first {
                $0.operationName == "process jobs" && $0.links.contains { $0.context.inMemorySpanContext?.spanID == send.spanID }
            })
            #expect(attribute(retry, "muster.attempt") == "2")
            #expect(retry.traceID != send.traceID && retry.parentSpanID == nil)
            #expect(retry.links.count == 1)
            #expect(retry.status == nil)
        }
    }

    @Test func aCallbacksSpanLinksToItsMembersSpans() async throws {
        let tracer = Self.tracer
        try await OrchestrationFixture.with { fixture in
            let done = Locked(false)
            var members = Worker(client: fixture.client, queue: fixture.members.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            members.registerMember(task: "member", as: Part.self) { part, _ in part.n }
            var callbacks = Worker(client: fixture.client, queue: fixture.callbacks.name, options: WorkerOptions(pollInterval: .milliseconds(50)))
            callbacks.registerCallback(task: "aggregate", as: Nothing.self) { _, callback, _ in
                #expect(callback.members.count == 3)
                done.withLock { $0 = true }
            }
            let (execution, _) = try await withSpan("orchestrate") { _ in try await fixture.fanOut(3) }
            try await run(members, callbacks, until: "the callback ran") { done.value }

            let spans = tracer.finishedSpans
            let memberSpans = spans.filter {
                $0.operationName == "process jobs" && attribute($0, "muster.execution.id") == execution.uuidString.lowercased()
            }
            #expect(memberSpans.count == 3)
            // The members are children of the fan-out, itself a child of the orchestrating span.
            let fanOuts = spans.filter { span in
                span.operationName == "fan-out stage1" && attribute(span, "muster.execution.id") == execution.uuidString.lowercased()
            }
            #expect(fanOuts.count == 1)
            let fanOut = try #require(fanOuts.first)
            let parents = spans.filter { $0.spanID == fanOut.parentSpanID }
            let orchestrate = try #require(parents.first)
            #expect(orchestrate.operationName == "orchestrate")
            #expect(fanOut.kind == .producer)
            #expect(memberSpans.allSatisfy { $0.parentSpanID == fanOut.spanID && $0.traceID == orchestrate.traceID })
            let callback = try #require(spans.first {
                $0.operationName == "process callbacks" && attribute($0, "muster.execution.id") == execution.uuidString.lowercased()
            })
            let linked = Set(callback.links.compactMap { $0.context.inMemorySpanContext?.spanID })
            #expect(linked == Set(memberSpans.map(\.spanID)))
        }
    }
}
