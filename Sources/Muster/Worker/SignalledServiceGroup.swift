public import Logging
public import ServiceLifecycle
import UnixSignals

/// Runs `services` in a `ServiceGroup` until SIGTERM or SIGINT: the first signal starts a
/// graceful shutdown (workers stop reading, let running handlers finish within their drain
/// timeout and release every other lease); a second signal cancels at once, and workers
/// still hand their leases back before returning.
///
/// The signals are trapped before any service starts, so a signal that arrives while the
/// services start up is a shutdown too, never the default termination. (`ServiceGroup`'s own
/// `gracefulShutdownSignals` and `cancellationSignals` cannot share a signal: both would
/// catch the first one.)
public func runUntilSignalled(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        tasks.addTask {
            var received = 0
            for await signal in signals {
                received += 1
                guard received == 1 else {
                    logger.info("received \(signal) again: stopping now")
                    return
                }
                logger.info("received \(signal): shutting down gracefully (send it again to stop at once)")
                await group.triggerGracefulShutdown()
            }
        }
        // The services ended, or a second signal came: either way the other child stops.
        try await tasks.next()
        tasks.cancelAll()
    }
}
