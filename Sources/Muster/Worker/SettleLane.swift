import Synchronization

/// One kind of write the settler batches (acks, member completions, hand-backs): results are
/// submitted without waiting, and `run` writes them in batches as `SettleBatching` decides,
/// one batch at a time, until the lane is closed and empty.
final class SettleLane<Item: Sendable>: Sendable {
    private struct State {
        var batching: SettleBatching<Item>
        var wake: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ batching: SettleBatching<Item>) {
        state = Mutex(State(batching: batching))
    }

    func submit(_ item: Item) {
        wake { $0.append(item, at: .now) }
    }

    /// The worker's handlers went idle: write what waits without lingering.
    func hurry() { wake { $0.hurry() } }

    /// Nothing more will be submitted: write what waits, then `run` returns.
    func close() { wake { $0.close() } }

    /// Writes batches with `write` until the lane is closed and empty. `write` must not
    /// throw: each item's failure is its own business.
    func run(_ write: ([Item]) async -> Void) async {
        while true {
            switch state.withLock({ $0.batching.take(at: .now) }) {
            case .write(let batch): await write(batch)
            case .wait(let limit): await waitForWake(atMost: limit)
            case .finished: return
            }
        }
    }

    private func wake(_ change: (inout SettleBatching<Item>) -> Void) {
        let waiter = state.withLock { state in
            change(&state.batching)
            defer { state.wake = nil }
            return state.wake
        }
        waiter?.resume()
    }

    /// Returns after the next submit, hurry or close, or after `limit`. The run loop is the
    /// only waiter.
    private func waitForWake(atMost limit: Duration?) async {
        guard let limit else { return await nextWake() }
        await withTimeout(limit, otherwise: ()) { await self.nextWake() }
    }

    private func nextWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // A change since the last take is not lost, and a cancelled wait (the timer
                // ended first) does not register: take again at once.
                let ready = state.withLock { state -> Bool in
                    if !Task.isCancelled && !state.batching.isDue(at: .now) {
                        state.wake = continuation
                        return false
                    }
                    return true
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            self.wake { _ in }
        }
    }
}
