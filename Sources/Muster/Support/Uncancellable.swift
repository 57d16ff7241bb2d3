/// Runs `operation` to its end even when the calling task is cancelled, and waits for it.
///
/// For writes that must reach the database after a shutdown signal or a cancelled handler:
/// settling a finished handler's result, handing leases back, releasing a claim, resigning
/// leadership, marking a worker stopped. Cancellation would make each of them fail at once
/// (a cancelled task's statement is refused), so the operation runs as a task of its own,
/// which does not inherit the caller's cancellation; the caller still awaits its result, so
/// nothing outlives the call. The one place Muster shields work from cancellation.
func uncancellable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await operation() }.value
}

/// `uncancellable` for operations that cannot throw.
func uncancellable<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T {
    await Task { await operation() }.value
}
