/// How many messages a worker's fetch loop may lease next: a pure decision, so its rules are
/// unit-tested rather than buried in the loop.
///
/// `room` is handler slots plus prefetch: messages that may run or wait for a handler.
/// Messages whose results are being settled need no slot, so the next batch can be read
/// while the last one's acks commit, but never more than twice the room is held (every held
/// lease is heartbeated). With something in flight, a read waits until half a batch is free
/// rather than leasing one message per freed slot (one statement per message).
struct ReadBudget: Sendable, Equatable {
    let room: Int
    let batchSize: Int

    init(concurrency: Int, prefetch: Int, batchSize: Int) {
        room = concurrency + prefetch
        self.batchSize = batchSize
    }

    /// The smallest read worth a statement while messages are held.
    var worthReading: Int { max(1, min(batchSize, room) / 2) }

    /// The next read's size given the leases held (`held`, of which `settling` are being
    /// settled), or nil when the loop should wait for one to finish.
    func nextRead(held: Int, settling: Int) -> Int? {
        let capacity = min(room - (held - settling), 2 * room - held)
        guard capacity >= worthReading || (capacity > 0 && held == 0) else { return nil }
        return min(batchSize, capacity)
    }
}
