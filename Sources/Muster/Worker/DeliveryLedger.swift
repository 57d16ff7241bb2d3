/// Every lease a worker holds and what is happening to it: one state for what used to be an
/// in-flight registry, a slot semaphore and a settling counter. A pure value: each event
/// returns what the shell (`Deliveries`) must do, so the rules are unit-tested step by step.
///
/// A lease is *waiting* (read, no handler slot yet), *running* (its handler holds one of the
/// `concurrency` slots) or *settling* (the handler returned and its result is being written;
/// the slot is free again). It leaves the ledger once settled. Every lease not known to be
/// lost is heartbeated, settling ones too (their write may be retried for a while).
///
/// Leases are keyed by lease, not by message: a message whose lease this worker lost can be
/// read again by it while the old handler still runs. The newer delivery marks the older lease
/// lost and its handler is cancelled; each keeps its own entry until it is settled.
struct DeliveryLedger: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        case waiting, running, settling
    }

    struct Entry: Sendable, Equatable {
        var phase: Phase
        var lost = false
    }

    /// What a delivery does once it asked for a handler slot.
    enum SlotAnswer: Sendable, Equatable {
        /// Run the handler now.
        case run
        /// Wait: the shell resumes the delivery with a later answer.
        case wait
        /// The worker is stopping and the handler never started: hand the lease back.
        case handBack
        /// The lease was lost before the handler started (the message was read again): do
        /// nothing with it.
        case lost
    }

    /// Deliveries waiting for a slot that must be resumed, and running handlers to cancel.
    struct Actions: Sendable, Equatable {
        var resume: [Lease: SlotAnswer] = [:]
        var cancel: [Lease] = []
        var isEmpty: Bool { resume.isEmpty && cancel.isEmpty }
    }

    private(set) var entries: [Lease: Entry] = [:]
    private(set) var freeSlots: Int
    /// Waiting leases in the order they asked for a slot.
    private(set) var queued: [Lease] = []
    private(set) var draining = false
    /// Told to stop at once: a handler granted a slot must not start.
    private(set) var stopped = false
    private(set) var running = 0
    private(set) var settling = 0
    /// Messages that reads in flight may lease (counted against the room until they return).
    private(set) var reserved = 0
    /// The last read came back full: more messages are probably ready, so another read may
    /// run beside the next one.
    private(set) var backlog = false

    init(slots: Int) { freeSlots = slots }

    /// Leases held (waiting, running or settling).
    var held: Int { entries.count }
    /// Nothing held and no read in flight.
    var holdsNothing: Bool { entries.isEmpty && reserved == 0 }

    /// The next read's size under `budget`, counting reads in flight as held; nil when the
    /// budget allows none now.
    func nextRead(in budget: ReadBudget) -> Int? {
        budget.nextRead(held: held + reserved, settling: settling)
    }

    /// A read of up to `limit` messages starts.
    mutating func readStarted(_ limit: Int) {
        reserved += limit
    }

    /// A read of up to `limit` returned `count` messages (received separately).
    mutating func readReturned(_ limit: Int, count: Int) {
        reserved -= limit
        backlog = count == limit
    }
    /// No handler running and none waiting for a slot: everything held is being settled.
    var handlersIdle: Bool { running == 0 && queued.isEmpty }
    /// The leases to heartbeat: every one not known to be lost.
    var heartbeatLeases: [Lease] { entries.filter { !$0.value.lost }.map(\.key) }

    func isLost(_ lease: Lease) -> Bool { entries[lease]?.lost ?? false }

    /// Whether the handler of `lease`, granted a slot, may still start.
    func mayStart(_ lease: Lease) -> Bool { !stopped && entries[lease].map { !$0.lost && $0.phase == .running } ?? false }

    /// A read leased `lease`. Older leases of the same message are lost (it was read again);
    /// their running handlers are cancelled and their waiting deliveries told so.
    mutating func received(_ lease: Lease) -> Actions {
        var older: [Lease] = []
        for held in entries.keys where held.messageID == lease.messageID && held.readCount < lease.readCount { older.append(held) }
        entries[lease] = Entry(phase: .waiting)
        return older.isEmpty ? Actions() : markLost(older)
    }

    /// The delivery of `lease` asks for a handler slot.
    mutating func requestSlot(_ lease: Lease) -> SlotAnswer {
        guard let entry = entries[lease], entry.phase == .waiting else { return .lost }
        if entry.lost { return .lost }
        if draining { return .handBack }
        guard freeSlots > 0 else {
            queued.append(lease)
            return .wait
        }
        freeSlots -= 1
        start(lease)
        return .run
    }

    /// The handler of `lease` returned (or was abandoned): its slot goes to the first waiting
    /// delivery, and the lease is settling.
    mutating func handlerReturned(_ lease: Lease) -> Actions {
        guard entries[lease]?.phase == .running else { return Actions() }
        entries[lease]?.phase = .settling
        running -= 1
        settling += 1
        guard !draining, let next = queued.first else {
            freeSlots += 1
            return Actions()
        }
        queued.removeFirst()
        start(next)
        return Actions(resume: [next: .run])
    }

    /// The lease was written (acked, released, handed back) or given up: it leaves the ledger.
    /// A running lease settled this way first frees its slot (see `handlerReturned`).
    mutating func settled(_ lease: Lease) -> Actions {
        let actions = entries[lease]?.phase == .running ? handlerReturned(lease) : Actions()
        guard let entry = entries.removeValue(forKey: lease) else { return actions }
        if entry.phase == .settling { settling -= 1 }
        queued.removeAll { $0 == lease }
        return actions
    }

    /// The database says these leases are lost. Running handlers are cancelled (their
    /// result will not be written), waiting deliveries told; settling leases are not lost
    /// (their row may just have been acked). Returns the actions and the leases newly lost.
    mutating func markLost(_ leases: [Lease]) -> Actions {
        var actions = Actions()
        for lease in leases {
            guard let entry = entries[lease], !entry.lost, entry.phase != .settling else { continue }
            entries[lease]?.lost = true
            switch entry.phase {
            case .running: actions.cancel.append(lease)
            case .waiting where queued.contains(lease):
                queued.removeAll { $0 == lease }
                actions.resume[lease] = .lost
            default: break
            }
        }
        return actions
    }

    /// Graceful shutdown: no handler starts any more; deliveries waiting for a slot hand
    /// their leases back.
    mutating func drain() -> Actions {
        draining = true
        var actions = Actions()
        for lease in queued { actions.resume[lease] = .handBack }
        queued.removeAll()
        return actions
    }

    /// Stop at once (the drain timeout passed, or the worker was cancelled): as `drain`, and
    /// every running handler is cancelled.
    mutating func stopNow() -> Actions {
        stopped = true
        var actions = drain()
        actions.cancel = entries.filter { $0.value.phase == .running }.map(\.key)
        return actions
    }

    private mutating func start(_ lease: Lease) {
        entries[lease]?.phase = .running
        running += 1
    }
}
