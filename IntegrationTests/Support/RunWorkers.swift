import Muster

/// Runs `workers` in this process until `done` holds (checked every 20 ms, for at most
/// `timeout`), then cancels them, which also hands their leases back.
func run(_ workers: Worker..., timeout: Duration = .seconds(20), until done: () async throws -> Bool) async throws {
    let running = workers.map { worker in Task { try await worker.run() } }
    defer { running.forEach { $0.cancel() } }
    try await waitUntil(timeout: timeout, done)
    for task in running {
        task.cancel()
        _ = await task.result
    }
}
