/// Returns what `operation` returns, or `fallback` once `timeout` has passed, whichever comes
/// first; the other is cancelled and awaited, so nothing outlives the call. `operation` must
/// end promptly when cancelled.
func withTimeout<T: Sendable>(
    _ timeout: Duration, otherwise fallback: T, _ operation: @escaping @Sendable () async -> T
) async -> T {
    await withTaskGroup(of: T.self) { race in
        race.addTask { await operation() }
        race.addTask {
            try? await Task.sleep(for: timeout)
            return fallback
        }
        let first = await race.next() ?? fallback
        race.cancelAll()
        return first
    }
}
