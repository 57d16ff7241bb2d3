extension PostgresConnection {
    /// Runs `body` inside `BEGIN … COMMIT` on this connection.
    ///
    /// Commits when `body` returns; rolls back when it throws, and when the task was
    /// cancelled (even if `body` returned), then rethrows (`CancellationError` for
    /// cancellation). The connection must not be shared with other tasks meanwhile.
    nonisolated(nonsending) package func withTransaction<T>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        _ = try await simpleQuery("BEGIN")
        let value: T
        do {
            value = try await body(self)
            try Task.checkCancellation()
        } catch {
            await rollbackQuietly()
            throw error
        }
        do {
            _ = try await simpleQuery("COMMIT")
        } catch {
            await rollbackQuietly()
            throw error
        }
        return value
    }

    private func rollbackQuietly() {
        try? simpleQueryIgnoringCancellation("ROLLBACK")
    }
}
