import Synchronization

/// The leases a worker holds, each with the task running its handler. Heartbeats extend
/// every lease here; a lease the heartbeat finds lost is marked and its task cancelled.
///
/// A lease whose handler has returned is *settling* until its ack (or release) is written.
/// Its row may vanish at any moment (the ack committed), so a heartbeat that misses it has
/// found nothing lost; the settle itself reports a lease that really was lost.
///
/// Entries are keyed by lease, not by message: a message whose lease this worker lost can
/// come back to it (read again after the lease expired) while the old handler still runs.
/// The newer delivery marks the older lease lost and cancels its handler; each keeps its own
/// entry until it is settled.
final class InFlightRegistry: Sendable {
    private struct Entry {
        var task: Task<Void, Never>?
        var lost = false
        var settling = false
    }

    private let entries = Mutex<[Lease: Entry]>([:])
    private let changes: AsyncStream<Void>.Continuation
    /// Yields whenever an entry is removed (a slot freed) or the worker is told to drain.
    let changed: AsyncStream<Void>

    init() {
        (changed, changes) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var count: Int { entries.withLock { $0.count } }

    /// The leases to heartbeat: every one not known to be lost (at most one per message).
    var leases: [Lease] { entries.withLock { $0.filter { !$0.value.lost }.map(\.key) } }

    func add(_ lease: Lease) {
        let superseded = entries.withLock { entries -> [Task<Void, Never>] in
            var tasks: [Task<Void, Never>] = []
            for (old, entry) in entries where old.messageID == lease.messageID && old.readCount < lease.readCount && !entry.lost {
                entries[old]?.lost = true
                if let task = entry.task, !entry.settling { tasks.append(task) }
            }
            entries[lease] = Entry()
            return tasks
        }
        superseded.forEach { $0.cancel() }
    }

    func attach(_ task: Task<Void, Never>, to lease: Lease) {
        entries.withLock { $0[lease]?.task = task }
    }

    func isLost(_ lease: Lease) -> Bool { entries.withLock { $0[lease]?.lost ?? false } }

    /// The handler of `lease` returned; its result is being written.
    func markSettling(_ lease: Lease) {
        entries.withLock { $0[lease]?.settling = true }
    }

    /// Marks the leases of running handlers lost and cancels those handlers (cooperatively);
    /// returns their message ids. Leases already settled (gone) or settling are not lost.
    func markLost(_ leases: [Lease]) -> [Int64] {
        let (lost, tasks) = entries.withLock { entries in
            var lost: [Int64] = [], tasks: [Task<Void, Never>] = []
            for lease in leases {
                guard let entry = entries[lease], !entry.settling, !entry.lost else { continue }
                entries[lease]?.lost = true
                lost.append(lease.messageID)
                if let task = entry.task { tasks.append(task) }
            }
            return (lost, tasks)
        }
        tasks.forEach { $0.cancel() }
        return lost
    }

    func remove(_ lease: Lease) {
        entries.withLock { _ = $0.removeValue(forKey: lease) }
        changes.yield()
    }

    /// Cancels every handler still running (or waiting to run); returns the leases they
    /// hold. Settling leases are left to their settle, which is already writing them.
    func cancelAll() -> [Lease] {
        let (tasks, leases) = entries.withLock { entries in
            let running = entries.filter { !$0.value.settling }
            return (running.values.compactMap(\.task), running.filter { !$0.value.lost }.map(\.key))
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
