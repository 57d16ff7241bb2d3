import Synchronization

/// Group commit: items submitted while a statement is in flight go out together in the
/// next one, in one statement and one commit.
///
/// Nothing waits on a timer: the first item after an idle moment goes out at once, so an
/// idle worker pays no extra latency, and a busy one pays one commit per batch instead of one
/// per item. Each caller gets its own item's outcome; when the statement is refused for its
/// data, the batch is bisected, so one bad item fails only its own caller. A crash before a
/// batch commits loses nothing the caller has not been told about: its leases expire and the
/// messages are delivered again (at-least-once).
final class GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    /// Sends one batch; returns one outcome per item, in order.
    typealias Flush = @Sendable ([Item]) async throws -> [Outcome]

    private struct Waiting {
        var item: Item
        var continuation: CheckedContinuation<Result<Outcome, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var flushing = false
    }

    private let maxBatch: Int
    private let send: Flush
    private let state = Mutex(State())

    init(maxBatch: Int = 1000, _ send: @escaping Flush) {
        self.maxBatch = maxBatch
        self.send = send
    }

    /// Submits `item` with whatever else is waiting and returns its outcome. Throws what the
    /// batch's statement threw.
    func submit(_ item: Item) async throws -> Outcome {
        let result = await withCheckedContinuation { continuation in
            let startFlusher = state.withLock { state -> Bool in
                state.waiting.append(Waiting(item: item, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlusher { Task { await self.flush() } }
        }
        return try result.get()
    }

    /// Sends batches until nothing is waiting.
    private func flush() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await send(batch[...])
        }
    }

    /// Sends `batch` and resumes its callers. When the statement is refused for its data (not
    /// for a lost connection or a timeout), each half is sent on its own, down to single
    /// items, so one bad item fails only its own caller.
    private func send(_ batch: ArraySlice<Waiting>) async {
        do {
            for (waiting, outcome) in zip(batch, try await sendChecked(batch.map(\.item))) {
                waiting.continuation.resume(returning: .success(outcome))
            }
        } catch let error where batch.count > 1 && Self.isAboutTheData(error) {
            let middle = batch.startIndex + batch.count / 2
            await send(batch[..<middle])
            await send(batch[middle...])
        } catch {
            for waiting in batch { waiting.continuation.resume(returning: .failure(error)) }
        }
    }

    /// Errors a smaller batch could avoid: not an unavailable server (a lost or refused
    /// connection, a timeout, a server shutting down or read-only).
    private static func isAboutTheData(_ error: any Error) -> Bool {
        guard let error = error as? MusterError else { return false }
        return !error.isServerUnavailable
    }

    private func sendChecked(_ items: [Item]) async throws -> [Outcome] {
        let outcomes = try await send(items)
        guard outcomes.count == items.count else {
            throw MusterError(.database, "a batch of \(items.count) returned \(outcomes.count) outcomes")
        }
        return outcomes
    }
}
