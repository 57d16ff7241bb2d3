/// The bookkeeping of a bounded connection pool, without I/O: which connections are idle, how
/// many exist or are being opened, and who waits. The pool actor performs the actions this
/// returns; unit tests drive it directly.
///
/// Invariant: `total` (idle + leased + opening) never exceeds `maxSize`, and a waiter is only
/// queued when no connection is idle and no new one may be opened.
package struct PoolState<Connection, Waiter: Hashable> {
    package let maxSize: Int
    package private(set) var idle: [Connection] = []
    package private(set) var waiters: [Waiter] = []
    /// Idle, leased and opening connections together.
    package private(set) var total = 0

    package init(maxSize: Int) {
        precondition(maxSize > 0, "a pool needs room for at least one connection")
        self.maxSize = maxSize
    }

    /// What the pool does for an acquire request.
    package enum AcquireAction {
        /// Hand out this idle connection.
        case use(Connection)
        /// Open a new connection for the requester (room was reserved).
        case open
        /// Park the requester until a connection is released.
        case wait
    }

    /// What the pool does with a released or failed connection slot.
    package enum ReleaseAction {
        /// Give this connection to that waiter.
        case handOver(Connection, to: Waiter)
        /// Open a new connection for that waiter (room was reserved).
        case openFor(Waiter)
        /// Nothing to do (the connection went idle, or the slot was freed).
        case none
    }

    package mutating func acquire(_ waiter: Waiter) -> AcquireAction {
        if let connection = idle.popLast() { return .use(connection) }
        if total < maxSize {
            total += 1
            return .open
        }
        waiters.append(waiter)
        return .wait
    }

    /// A leased connection comes back. An unhealthy one is discarded, and its slot goes to the
    /// first waiter as a fresh connection, so a dead connection is never handed out again.
    package mutating func release(_ connection: Connection, healthy: Bool) -> ReleaseAction {
        guard healthy else { return slotFreed() }
        if !waiters.isEmpty { return .handOver(connection, to: waiters.removeFirst()) }
        idle.append(connection)
        return .none
    }

    /// Opening a connection failed: its reserved slot is freed.
    package mutating func openFailed() -> ReleaseAction { slotFreed() }

    /// Removes a waiter that gave up (timeout or cancellation). Returns false when it was no
    /// longer waiting, i.e. it has already been handed a connection.
    package mutating func removeWaiter(_ waiter: Waiter) -> Bool {
        guard let index = waiters.firstIndex(of: waiter) else { return false }
        waiters.remove(at: index)
        return true
    }

    /// Takes every idle connection out (for closing the pool).
    package mutating func drainIdle() -> [Connection] {
        let drained = idle
        total -= idle.count
        idle.removeAll()
        return drained
    }

    private mutating func slotFreed() -> ReleaseAction {
        if !waiters.isEmpty { return .openFor(waiters.removeFirst()) }
        total -= 1
        return .none
    }
}
