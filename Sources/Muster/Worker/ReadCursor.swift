/// Where a reader's next read starts (`read_from`, migrations/0016_reads_past_the_dead.sql):
/// after its previous read, so a read walks only what was handed out since then, not every
/// lease a held snapshot keeps vacuum from removing; or from the front of the queue.
///
/// A read from where the last one ended misses what reappears behind it (a message released
/// or requeued to ready keeps its id; a send whose transaction commits after a later id was
/// read; a due row committed late). So a reader reads from the front at least every
/// `minimumInterval`, and each of those waits at most that long. A read from the front walks
/// everything a held snapshot keeps, so when one is slow they come less often: never more
/// than `costShare` of the time (a 200 ms read from the front, at the defaults, is repeated
/// every 10 s), and at least every `maximumInterval`.
///
/// A pure value: the worker's fetch loop keeps one per reader and tells it how each read went.
struct ReadCursor: Sendable, Equatable {
    var minimumInterval: Duration = .seconds(1)
    var maximumInterval: Duration = .seconds(30)
    var costShare: Double = 0.02

    /// Where the next read starts, once a read has said so.
    private(set) var position: ReadPosition?
    private var lastFromFront: ContinuousClock.Instant?
    private var interval: Duration = .zero

    init() {}

    /// The position the read at `now` starts from; nil reads from the front.
    func start(at now: ContinuousClock.Instant) -> ReadPosition? {
        guard let position, let lastFromFront, now - lastFromFront < interval else { return nil }
        return position
    }

    /// Records a read that started from `start` at `startedAt`, took `took`, and said the next
    /// should start at `next` (nil: the read failed or said nothing; the old position stays).
    mutating func record(startedFrom start: ReadPosition?, at startedAt: ContinuousClock.Instant, took: Duration, next: ReadPosition?) {
        if start == nil && next != nil {
            lastFromFront = startedAt
            interval = Self.clamp(took * (1 / costShare), minimumInterval, maximumInterval)
        }
        if let next { position = next }
    }

    private static func clamp(_ value: Duration, _ low: Duration, _ high: Duration) -> Duration {
        min(max(value, low), high)
    }
}

/// A start for `read_from`: after (`readyPriority`, `readyID`) among ready messages, and at or
/// after `dueAfter` (the server's timestamp, kept as its text so it goes back exactly) among
/// due ones.
struct ReadPosition: Sendable, Equatable {
    var readyPriority: Int16
    var readyID: Int64
    var dueAfter: String
}
