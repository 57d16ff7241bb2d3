/// How many messages a worker's fetch loop may lease next: a pure decision, so its rules are
/// unit-tested rather than buried in the loop.
///
/// `room` is handler slots plus prefetch: messages that may run or wait for a handler.
/// Messages whose results are being settled need no slot, so the next batch can be read
/// while the last one's acks commit, but never more than twice the room is held (every held
/// lease is heartbeated).
///
/// Each read is a statement and a commit, so a read waits until a whole batch fits (with the
/// default prefetch, the next batch is read while the last one still has a batch waiting),
/// except when a handler slot would otherwise sit idle: then whatever fits is read at once, so
/// slow handlers never wait for others to finish before new work starts.
struct ReadBudget: Sendable, Equatable {
    let concurrency: Int
    let room: Int
    let batchSize: Int

    init(concurrency: Int, prefetch: Int, batchSize: Int) {
        self.concurrency = concurrency
        room = concurrency + prefetch
        self.batchSize = batchSize
    }

    /// The smallest read worth a statement while every slot is busy: a full batch.
    var worthReading: Int { max(1, min(batchSize, room)) }

    /// The next read's size given the leases held (`held`, of which `settling` are being
    /// settled), or nil when the loop should wait for one to finish.
    func nextRead(held: Int, settling: Int) -> Int? {
        let unsettled = held - settling
        let capacity = min(room - unsettled, 2 * room - held)
        let slotIdle = unsettled < concurrency
        guard capacity >= worthReading || (capacity > 0 && slotIdle) else { return nil }
        return min(batchSize, capacity)
    }
}
