import Muster

/// Waiting for a condition, the one way the integration tests wait.
///
/// The timeouts are generous on purpose: they only keep a broken test from hanging the
/// suite, and say nothing about speed (speed lives in docs/benchmarks.md). Where time
/// must pass for a condition to hold, the test moves it with `TimeTravel` instead.

/// A condition did not hold in time; `description` names what the test was waiting for.
struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var timeout: Duration
    var description: String { "waited \(timeout) for \(what), in vain" }
}

/// Checks `condition` every 20 ms until it holds; throws `WaitTimedOut` naming `what` once
/// `timeout` has passed.
func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(what: what, timeout: timeout) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Runs `workers` in this process until `done` holds (see `waitUntil`), then cancels them,
/// which also hands their leases back. The workers are children of this call: none outlives it.
func run(_ workers: Worker..., until what: String, timeout: Duration = .seconds(60), _ done: () async throws -> Bool) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in workers { group.addTask { try await worker.run() } }
        try await waitUntil(what, timeout: timeout, done)
        group.cancelAll()
        while await group.nextResult() != nil {}
    }
}
