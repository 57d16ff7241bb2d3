import Synchronization

/// A handler ran past its time limit.
struct TimeLimitExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "time limit of \(DurationText.format(limit)) exceeded" }
}

/// How a handler run ended: whichever of its return, its time limit and a cancellation came
/// first. A pure value; later ends are ignored, so a handler that returns after its time
/// limit fired (it ignored the cancellation) changes nothing.
struct HandlerRunEnd<T: Sendable>: Sendable {
    enum End: Sendable {
        case returned(Result<T, any Error>)
        case timedOut(Duration)
        /// Cancelled from outside: the worker stops, or the lease was lost.
        case cancelled
    }

    private(set) var end: End?

    /// Records `end` unless the run already ended; true when this end decided it.
    mutating func record(_ end: End) -> Bool {
        guard self.end == nil else { return false }
        self.end = end
        return true
    }

    /// What the run gives its caller, once ended.
    var result: Result<T, any Error>? {
        switch end {
        case .returned(let result): result
        case .timedOut(let limit): .failure(TimeLimitExceeded(limit: limit))
        case .cancelled: .failure(CancellationError())
        case nil: nil
        }
    }
}

/// Runs `operation` and returns its result, or throws `TimeLimitExceeded` once `limit`
/// passes, or `CancellationError` when the caller is cancelled or calls the canceller that
/// `started` receives (`started` returning false cancels at once). In each of those cases the
/// operation is cancelled too.
///
/// The operation runs in a task of its own: that is the one unstructured task of a delivery,
/// and it exists so that a handler that ignores cancellation is abandoned rather than waited
/// for. A hung handler then cannot hold its slot, the drain or the worker's shutdown; its
/// lease is settled without it. The time limit's timer is a child task of this call.
func withTimeLimit<T: Sendable>(
    _ limit: Duration?,
    started: (@escaping @Sendable () -> Void) -> Bool = { _ in true },
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let run = Mutex((end: HandlerRunEnd<T>(), waiter: CheckedContinuation<Result<T, any Error>, Never>?.none))
    let finish: @Sendable (HandlerRunEnd<T>.End) -> Bool = { end in
        let (decided, waiter, result) = run.withLock { run -> (Bool, CheckedContinuation<Result<T, any Error>, Never>?, Result<T, any Error>?) in
            guard run.end.record(end) else { return (false, nil, nil) }
            defer { run.waiter = nil }
            return (true, run.waiter, run.end.result)
        }
        if let waiter, let result { waiter.resume(returning: result) }
        return decided
    }
    let work = Task {
        let result = await Result(catching: { try await operation() })
        _ = finish(.returned(result))
    }
    let cancel: @Sendable () -> Void = { if finish(.cancelled) { work.cancel() } }
    guard started(cancel) else {
        cancel()
        throw CancellationError()
    }
    let result = await withTaskCancellationHandler {
        await withTaskGroup(of: Void.self) { timer in
            if let limit {
                timer.addTask {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    if finish(.timedOut(limit)) { work.cancel() }
                }
            }
            let result = await withCheckedContinuation { continuation in
                let ended = run.withLock { run -> Result<T, any Error>? in
                    if let result = run.end.result { return result }
                    run.waiter = continuation
                    return nil
                }
                if let ended { continuation.resume(returning: ended) }
            }
            timer.cancelAll()
            return result
        }
    } onCancel: {
        cancel()
    }
    return try result.get()
}

extension Result where Failure == any Error {
    /// The result of `body`, its error included.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
