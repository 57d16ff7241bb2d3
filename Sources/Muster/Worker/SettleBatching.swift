/// When a settle lane writes what is waiting: a pure value, so the trade between commits and
/// latency is unit-tested.
///
/// Each write is one statement and one commit for the whole batch, so the lane waits a little
/// for more: it writes at once when `target` items wait, when the worker's handlers are idle
/// (nothing more is coming soon), or when the oldest waiting item has lingered `linger`. A
/// busy worker pays one commit per `target` results; an idle one pays no added latency; in
/// between, results wait at most `linger`.
struct SettleBatching<Item: Sendable>: Sendable {
    enum Take: Sendable {
        /// Write these now.
        case write([Item])
        /// Wait until something arrives, or at most this long (nil: no limit).
        case wait(Duration?)
        /// Closed and empty: the lane is done.
        case finished
    }

    let target: Int
    let maxBatch: Int
    let linger: Duration
    private(set) var items: [Item] = []
    private(set) var oldest: ContinuousClock.Instant?
    private(set) var closed = false
    /// Write without lingering (the handlers went idle); reset by each write.
    private(set) var urgent = false

    init(target: Int, maxBatch: Int = 1000, linger: Duration) {
        self.target = max(1, min(target, maxBatch))
        self.maxBatch = maxBatch
        self.linger = linger
    }

    mutating func append(_ item: Item, at now: ContinuousClock.Instant) {
        if items.isEmpty { oldest = now }
        items.append(item)
    }

    /// Nothing more is coming soon: write what waits without lingering.
    /// With nothing waiting there is nothing to hurry: the next item waits as usual.
    mutating func hurry() { urgent = !items.isEmpty }

    /// No more items will be appended; what waits is written at once.
    mutating func close() { closed = true }

    /// Whether `take` would write or finish rather than wait.
    func isDue(at now: ContinuousClock.Instant) -> Bool {
        guard let oldest, !items.isEmpty else { return closed }
        return items.count >= target || urgent || closed || now - oldest >= linger
    }

    mutating func take(at now: ContinuousClock.Instant) -> Take {
        guard let oldest, !items.isEmpty else { return closed ? .finished : .wait(nil) }
        guard isDue(at: now) else { return .wait(linger - (now - oldest)) }
        let batch = Array(items.prefix(maxBatch))
        items.removeFirst(batch.count)
        self.oldest = items.isEmpty ? nil : now
        urgent = false
        return .write(batch)
    }
}

/// Sends `items` in one call and returns each one's result. When the call is refused for
/// its data (`isAboutTheData`), each half is sent on its own, down to single items, so one
/// bad item fails only itself; any other error (a lost connection, a timeout) fails the
/// whole batch at once.
func sendBisecting<Item: Sendable, Outcome: Sendable>(
    _ items: ArraySlice<Item>,
    isAboutTheData: (any Error) -> Bool,
    _ send: ([Item]) async throws -> [Outcome]
) async -> [Result<Outcome, any Error>] {
    guard !items.isEmpty else { return [] }
    do {
        let outcomes = try await send(Array(items))
        guard outcomes.count == items.count else {
            throw MusterError(.database, "a batch of \(items.count) returned \(outcomes.count) outcomes")
        }
        return outcomes.map { .success($0) }
    } catch let error where items.count > 1 && isAboutTheData(error) {
        let middle = items.startIndex + items.count / 2
        return await sendBisecting(items[..<middle], isAboutTheData: isAboutTheData, send)
            + sendBisecting(items[middle...], isAboutTheData: isAboutTheData, send)
    } catch {
        return Array(repeating: .failure(error), count: items.count)
    }
}
