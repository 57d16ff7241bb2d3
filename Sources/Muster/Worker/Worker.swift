public import Foundation
public import Logging
public import ServiceLifecycle

/// Consumes one queue: leases messages, runs the handler registered for each message's task,
/// and settles the lease by the outcome. A swift-service-lifecycle `Service`.
///
/// Guarantees (each proven with real processes in IntegrationTests/WorkerTests):
/// - leases are extended in one batched, fenced statement every third of the visibility
///   timeout while handlers run, so a handler may run far longer than the timeout without
///   being redelivered; a heartbeat that finds a lease lost cancels that handler, whose
///   result is then never acked;
/// - success acks (fenced); a thrown error releases the lease with exponential backoff and
///   full jitter and records the error; at the last attempt, or for a `NonRetryableError`,
///   the message goes to dead letters and `onDeadLetter` is called once;
/// - a handler past `timeLimit` is cancelled (abandoned if it ignores cancellation) and the
///   delivery counts as failed;
/// - on graceful shutdown (SIGTERM/SIGINT through a `ServiceGroup`) it stops reading, lets
///   running handlers finish within `drainTimeout`, and releases every other lease at once so
///   another worker picks the messages up without waiting for their leases to expire.
public struct Worker: Service {
    /// A registered handler, taking the raw payload and saying how to settle on success.
    typealias Handler = @Sendable (JSONPayload, HandlerContext) async throws -> Completion

    public let queue: QueueName
    public let options: WorkerOptions
    /// This worker's id: `<client worker id>/<queue>`, its row in `workers` and the holder
    /// (`leased_by`) of the messages it leases, so that each worker of a process is shown on
    /// its own.
    public var id: String { "\(client.options.workerID)/\(queue)" }
    let client: MusterClient
    let logger: Logger
    var handlers: [String: Handler] = [:]

    public init(client: MusterClient, queue: QueueName, options: WorkerOptions = WorkerOptions(), logger: Logger? = nil) {
        self.client = client
        self.queue = queue
        self.options = options
        var logger = logger ?? client.logger
        logger[metadataKey: "queue"] = "\(queue)"
        self.logger = logger
    }

    /// Registers `handler` for messages whose task is `task`, decoding their payload as
    /// `Input`. A payload that does not decode is dead-lettered at once (reason
    /// `non_retryable`): retrying cannot fix it.
    public mutating func register<Input: Decodable & Sendable>(
        task: String,
        as input: Input.Type = Input.self,
        decoder: JSONDecoder = JSONDecoder(),
        _ handler: @escaping @Sendable (Input, HandlerContext) async throws -> Void
    ) {
        let decoder = UncheckedDecoder(decoder)
        handlers[task] = { payload, context in
            try await handler(try decoder.decode(payload), context)
            return .ack
        }
    }

    /// When `run(until:)` stops on its own, besides a graceful shutdown or cancellation.
    public enum StopCondition: Sendable, Hashable {
        /// Only a graceful shutdown or cancellation stops the worker (a service's `run`).
        case shutdown
        /// Stop once the queue is empty: a read found nothing, this worker holds no lease, and
        /// the queue holds no message in any state (ready, delayed for a retry, or leased by
        /// another worker). For batch jobs and tests: every message is settled, retries
        /// included, when it returns. Dead letters stay.
        case queueEmpty
    }

    /// Runs until graceful shutdown or cancellation; see the type's guarantees.
    public func run() async throws {
        try await run(until: .shutdown)
    }

    /// Runs until `stop` holds, or until graceful shutdown or cancellation; either way it
    /// drains as a shutdown does before returning.
    ///
    /// A worker started while the database is unreachable, restarting or read-only waits for
    /// it (logging each try) and then starts, as a running worker rides out the same outage.
    /// Throws before consuming anything when waiting cannot help: `invalidArgument`,
    /// `connectFailed` for a refused login, `schemaNotInstalled`, `schemaOutdated` /
    /// `schemaTooNew` (naming both versions: a worker never runs against a schema other than
    /// the one it was built for), or `unknownQueue`.
    public func run(until stop: StopCondition) async throws {
        try options.validate()
        let runtime: WorkerRuntime
        do {
            runtime = try await cancelWhenGracefulShutdown {
                try await client.waitingForServer("starting the worker") {
                    try await Migrator(database: client.database, schema: client.schema, logger: logger).requireCurrent()
                    let runtime = try await WorkerRuntime(worker: self)
                    try await runtime.announce()
                    return runtime
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return      // told to stop while it waited for the database: nothing to drain
        }
        await runtime.run(until: stop)
    }
}

/// `JSONDecoder` is not `Sendable`; handlers only read it, one decode at a time per call.
struct UncheckedDecoder: @unchecked Sendable {
    let decoder: JSONDecoder
    init(_ decoder: JSONDecoder) { self.decoder = decoder }

    /// Decodes a payload; a payload that does not fit is non-retryable.
    func decode<T: Decodable>(_ payload: JSONPayload, as type: T.Type = T.self) throws -> T {
        do {
            return try payload.decode(as: T.self, decoder: decoder)
        } catch {
            throw NonRetryableError(error)
        }
    }
}
