public import Logging
public import ServiceLifecycle
import UnixSignals

/// Runs `services` in a `ServiceGroup` until SIGTERM or SIGINT: the first signal starts a
/// graceful shutdown (workers stop reading, let running handlers finish within their drain
/// timeout and release every other lease); a second signal cancels at once, and workers
/// still hand their leases back before returning.
public func runUntilSignalled(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let signals = Task {
        var received = 0
        for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            received += 1
            if received == 1 {
                logger.info("received \(signal): shutting down gracefully (send it again to stop at once)")
                await group.triggerGracefulShutdown()
            } else {
                logger.info("received \(signal) again: stopping now")
                running.cancel()
                return
            }
        }
    }
    defer { signals.cancel() }
    try await running.value
}
