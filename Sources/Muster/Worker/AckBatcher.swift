import Synchronization

/// Group commit for a worker's acks: handlers that finish while an ack statement is in
/// flight are acked together by the next one, in one fenced statement and one commit.
///
/// Nothing waits on a timer: the first ack after an idle moment goes out at once, so an idle
/// worker pays no extra latency, and a busy one pays one commit per batch instead of one per
/// message. Each caller gets its own lease's outcome. A crash before a batch commits loses
/// nothing: those leases expire and the messages are delivered again (at-least-once).
final class AckBatcher: Sendable {
    private struct Waiting {
        var lease: Lease
        var continuation: CheckedContinuation<Result<Bool, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var flushing = false
    }

    /// Most leases in one statement.
    static let maxBatch = 1000

    private let queue: Queue
    private let state = Mutex(State())

    init(queue: Queue) {
        self.queue = queue
    }

    /// Acks `lease` with whatever else is waiting; returns false when the lease was lost.
    /// Throws what the ack statement threw (after its one retry on a lost connection).
    func ack(_ lease: Lease) async throws -> Bool {
        let result = await withCheckedContinuation { continuation in
            let startFlusher = state.withLock { state -> Bool in
                state.waiting.append(Waiting(lease: lease, continuation: continuation))
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
                let batch = Array(state.waiting.prefix(Self.maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let outcome = try await queue.ack(batch.map(\.lease))
                let applied = Set(outcome.applied.map(\.messageID))
                for waiting in batch { waiting.continuation.resume(returning: .success(applied.contains(waiting.lease.messageID))) }
            } catch {
                for waiting in batch { waiting.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
