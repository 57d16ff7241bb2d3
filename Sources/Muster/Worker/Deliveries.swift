import Synchronization

/// The shell around `DeliveryLedger`: it holds the ledger under a lock and performs the
/// actions its events return (resuming deliveries that wait for a slot, cancelling running
/// handlers), and wakes whoever waits for a condition on it (room for a read, handlers
/// idle, the drain).
final class Deliveries: Sendable {
    private struct State {
        var ledger: DeliveryLedger
        var slotWaiters: [Lease: CheckedContinuation<DeliveryLedger.SlotAnswer, Never>] = [:]
        /// Cancels the handler run of each running lease.
        var cancellers: [Lease: @Sendable () -> Void] = [:]
        /// Messages read whose delivery has not asked for a slot yet.
        var unclaimed: [Lease: ReceivedMessage] = [:]
        /// Waits for a condition on the ledger (handlers idle, draining), by id.
        var conditionWaiters: [Int: (condition: @Sendable (DeliveryLedger) -> Bool, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextWaiter = 0
    }

    private let state: Mutex<State>

    init(slots: Int) {
        state = Mutex(State(ledger: DeliveryLedger(slots: slots)))
    }

    /// Leases held (waiting, running or settling).
    var held: Int { state.withLock { $0.ledger.held } }
    var heartbeatLeases: [Lease] { state.withLock { $0.ledger.heartbeatLeases } }
    var isDraining: Bool { state.withLock { $0.ledger.draining } }
    func isLost(_ lease: Lease) -> Bool { state.withLock { $0.ledger.isLost(lease) } }

    /// A message was read (outside `startRead`, which receives its own).
    func received(_ message: ReceivedMessage) {
        perform { Self.receive(message, into: &$0) }
    }

    private static func receive(_ message: ReceivedMessage, into state: inout State) -> DeliveryLedger.Actions {
        state.unclaimed[message.lease] = message
        return state.ledger.received(message.lease)
    }

    /// Messages read that no delivery has claimed, removed from that list: the caller hands
    /// them back.
    func takeUnclaimed() -> [ReceivedMessage] {
        state.withLock { state in
            defer { state.unclaimed.removeAll() }
            return Array(state.unclaimed.values)
        }
    }

    /// Waits for a handler slot for `lease`; `.run` means the handler may start now.
    func acquireSlot(for lease: Lease) async -> DeliveryLedger.SlotAnswer {
        await withCheckedContinuation { continuation in
            var answer: DeliveryLedger.SlotAnswer?
            perform { state in
                state.unclaimed[lease] = nil
                answer = state.ledger.requestSlot(lease)
                if answer == .wait {
                    state.slotWaiters[lease] = continuation
                    answer = nil
                }
                return DeliveryLedger.Actions()
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// Registers how to cancel the running handler of `lease`. Returns false when the lease
    /// was lost or the worker told to stop since the slot was granted: cancel it at once.
    func running(_ lease: Lease, cancel: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard state.ledger.mayStart(lease) else { return false }
            state.cancellers[lease] = cancel
            return true
        }
    }

    /// The handler of `lease` returned; true when no handler runs or waits any more (the
    /// settler need not wait for more results).
    func handlerReturned(_ lease: Lease) -> Bool {
        perform { state in
            state.cancellers[lease] = nil
            return state.ledger.handlerReturned(lease)
        }
    }

    func settled(_ lease: Lease) {
        perform { state in
            state.cancellers[lease] = nil
            return state.ledger.settled(lease)
        }
    }

    /// Marks leases the database reported lost; returns the message ids of running handlers
    /// that were cancelled for it.
    func markLost(_ leases: [Lease]) -> [Int64] {
        var cancelled: [Int64] = []
        perform { state in
            let actions = state.ledger.markLost(leases)
            cancelled = actions.cancel.map(\.messageID)
            return actions
        }
        return cancelled
    }

    /// Graceful shutdown: no new handler starts; waiting deliveries hand their leases back.
    func drain() { perform { $0.ledger.drain() } }

    /// Stop at once: as `drain`, and every running handler is cancelled.
    func stopNow() { perform { $0.ledger.stopNow() } }

    /// Waits until no handler runs and none waits for a slot (or the caller is cancelled).
    func handlersIdle() async { await wait { $0.handlersIdle } }

    /// Waits until the worker drains (or the caller is cancelled).
    func draining() async { await wait { $0.draining } }

    /// Waits until no lease is held and no read is in flight (or the caller is cancelled).
    func nothingHeld() async { await wait { $0.holdsNothing } }

    /// No lease held and no read in flight.
    var holdsNothing: Bool { state.withLock { $0.ledger.holdsNothing } }

    /// Waits until `budget` allows a read (counting reads in flight) and, for a `secondary`
    /// reader, until the last read came back full; reserves the read's size and returns it.
    /// Nil once the worker drains (or the caller is cancelled). Checked at each change of the
    /// ledger, under its lock, so a fetch loop wakes only when it has something to do.
    func startRead(in budget: ReadBudget, secondary: Bool) async -> Int? {
        let ready = { @Sendable (ledger: DeliveryLedger) in ledger.nextRead(in: budget) != nil && (ledger.backlog || !secondary) }
        while !Task.isCancelled {
            await wait { $0.draining || ready($0) }
            let limit = state.withLock { state -> Int?? in
                if state.ledger.draining { return .some(nil) }
                guard ready(state.ledger), let limit = state.ledger.nextRead(in: budget) else { return nil }
                state.ledger.readStarted(limit)
                return limit
            }
            if let limit { return limit }
        }
        return nil
    }

    /// A read started with `startRead` returned `messages`: each is received, and the
    /// reservation released.
    func readReturned(_ messages: [ReceivedMessage], limit: Int) {
        perform { state in
            var actions = DeliveryLedger.Actions()
            for message in messages {
                let superseded = Self.receive(message, into: &state)
                actions.cancel += superseded.cancel
                actions.resume.merge(superseded.resume) { $1 }
            }
            state.ledger.readReturned(limit, count: messages.count)
            return actions
        }
    }

    /// Waits until `condition` holds for the ledger (checked now and after each change), or
    /// the caller is cancelled.
    func wait(until condition: @escaping @Sendable (DeliveryLedger) -> Bool) async {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked under the lock the cancellation handler takes: a cancellation
                // either is seen here or finds this waiter registered.
                let met = state.withLock { state -> Bool in
                    guard !condition(state.ledger) && !Task.isCancelled else { return true }
                    state.conditionWaiters[id] = (condition, continuation)
                    return false
                }
                if met { continuation.resume() }
            }
        } onCancel: {
            self.state.withLock { $0.conditionWaiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Applies one ledger event and its actions, and wakes whoever waited for the change.
    /// Returns whether the handlers are idle after it.
    @discardableResult
    private func perform(_ event: (inout State) -> DeliveryLedger.Actions) -> Bool {
        let (resume, cancel, met, idle) = state.withLock { state in
            let actions = event(&state)
            var resume: [(CheckedContinuation<DeliveryLedger.SlotAnswer, Never>, DeliveryLedger.SlotAnswer)] = []
            var cancel: [@Sendable () -> Void] = []
            if !actions.isEmpty {
                resume = actions.resume.compactMap { lease, answer in state.slotWaiters.removeValue(forKey: lease).map { ($0, answer) } }
                cancel = actions.cancel.compactMap { state.cancellers[$0] }
            }
            var met: [CheckedContinuation<Void, Never>] = []
            if !state.conditionWaiters.isEmpty {
                let ledger = state.ledger
                for (id, waiter) in state.conditionWaiters where waiter.condition(ledger) {
                    met.append(waiter.continuation)
                    state.conditionWaiters[id] = nil
                }
            }
            return (resume, cancel, met, state.ledger.handlersIdle)
        }
        resume.forEach { $0.0.resume(returning: $0.1) }
        cancel.forEach { $0() }
        met.forEach { $0.resume() }
        return idle
    }
}
