import Synchronization

/// The leases a worker holds, each with the task running its handler. Heartbeats extend
/// every lease here; a lease the heartbeat finds lost is marked and its task cancelled.
final class InFlightRegistry: Sendable {
    private struct Entry {
        var lease: Lease
        var task: Task<Void, Never>?
        var lost = false
    }

    private let entries = Mutex<[Int64: Entry]>([:])
    private let changes: AsyncStream<Void>.Continuation
    /// Yields whenever an entry is removed (a slot freed) or the worker is told to drain.
    let changed: AsyncStream<Void>

    init() {
        (changed, changes) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var count: Int { entries.withLock { $0.count } }
    var leases: [Lease] { entries.withLock { $0.values.map(\.lease) } }

    func add(_ lease: Lease) {
        entries.withLock { $0[lease.messageID] = Entry(lease: lease) }
    }

    func attach(_ task: Task<Void, Never>, to id: Int64) {
        entries.withLock { $0[id]?.task = task }
    }

    func isLost(_ id: Int64) -> Bool { entries.withLock { $0[id]?.lost ?? false } }

    /// Marks leases lost and cancels their handlers (cooperatively).
    func markLost(_ ids: [Int64]) {
        let tasks = entries.withLock { entries in
            ids.compactMap { id -> Task<Void, Never>? in
                entries[id]?.lost = true
                return entries[id]?.task
            }
        }
        tasks.forEach { $0.cancel() }
    }

    func remove(_ id: Int64) {
        entries.withLock { _ = $0.removeValue(forKey: id) }
        changes.yield()
    }

    /// Cancels every handler; returns the leases they held.
    func cancelAll() -> [Lease] {
        let (tasks, leases) = entries.withLock { entries in
            (entries.values.compactMap(\.task), entries.values.map(\.lease))
        }
        tasks.forEach { $0.cancel() }
        return leases
    }

    func poke() { changes.yield() }
}

/// Permits to run a handler: `concurrency` at once. Prefetched deliveries wait here; once the
/// worker drains, waiting ones get `false` and hand their lease back instead of starting.
final class RunSlots: Sendable {
    private struct State {
        var free: Int
        var draining = false
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    func acquire() async -> Bool {
        await withCheckedContinuation { continuation in
            let answer = state.withLock { state -> Bool? in
                if state.draining { return false }
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiting.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.free += 1
            return nil
        }
        next?.resume(returning: true)
    }

    func drain() {
        let waiting = state.withLock { state in
            state.draining = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        waiting.forEach { $0.resume(returning: false) }
    }
}
