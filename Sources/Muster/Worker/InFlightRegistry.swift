import Synchronization

/// The leases a worker holds, each with the task running its handler. Heartbeats extend
/// every lease here; a lease the heartbeat finds lost is marked and its task cancelled.
///
/// A lease whose handler has returned is *settling* until its ack (or release) is written.
/// Its row may vanish at any moment (the ack committed), so a heartbeat that misses it has
/// found nothing lost; the settle itself reports a lease that really was lost.
final class InFlightRegistry: Sendable {
    private struct Entry {
        var lease: Lease
        var task: Task<Void, Never>?
        var lost = false
        var settling = false
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

    /// The handler of `id` returned; its result is being written.
    func markSettling(_ id: Int64) {
        entries.withLock { $0[id]?.settling = true }
    }

    /// Marks the leases of running handlers lost and cancels those handlers (cooperatively);
    /// returns their ids. Leases already settled (gone) or settling are not lost.
    func markLost(_ ids: [Int64]) -> [Int64] {
        let (lost, tasks) = entries.withLock { entries in
            var lost: [Int64] = [], tasks: [Task<Void, Never>] = []
            for id in ids {
                guard let entry = entries[id], !entry.settling else { continue }
                entries[id]?.lost = true
                lost.append(id)
                if let task = entry.task { tasks.append(task) }
            }
            return (lost, tasks)
        }
        tasks.forEach { $0.cancel() }
        return lost
    }

    func remove(_ id: Int64) {
        entries.withLock { _ = $0.removeValue(forKey: id) }
        changes.yield()
    }

    /// Cancels every handler still running (or waiting to run); returns the leases they
    /// hold. Settling leases are left to their settle, which is already writing them.
    func cancelAll() -> [Lease] {
        let (tasks, leases) = entries.withLock { entries in
            let running = entries.values.filter { !$0.settling }
            return (running.compactMap(\.task), running.map(\.lease))
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
