import Synchronization

/// A handler ran past its time limit.
struct TimeLimitExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "time limit of \(DurationText.format(limit)) exceeded" }
}

/// Runs `operation` in its own task and returns its result, or throws `TimeLimitExceeded`
/// once `limit` passes. On timeout (or when the caller is cancelled) the operation is
/// cancelled; one that ignores cancellation is abandoned rather than waited for, so a hung
/// handler cannot hold the worker: its lease is settled without it.
func withTimeLimit<T: Sendable>(_ limit: Duration?, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let work = Task { try await operation() }
    let outcome = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let finish: @Sendable (Result<T, any Error>) -> Bool = { result in
        guard let continuation = outcome.withLock({ state -> CheckedContinuation<T, any Error>? in
            defer { state = nil }
            return state
        }) else { return false }
        continuation.resume(with: result)
        return true
    }
    var timer: Task<Void, Never>?
    defer { timer?.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.withLock { $0 = continuation }
            Task { _ = finish(await work.result) }
            if let limit {
                timer = Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    if finish(.failure(TimeLimitExceeded(limit: limit))) { work.cancel() }
                }
            }
        }
    } onCancel: {
        work.cancel()
        _ = finish(.failure(CancellationError()))
    }
}
