import Synchronization

/// The time one request spent waiting for the database, for its `Server-Timing` header.
final class DatabaseTime: Sendable {
    /// The accumulator of the request being served.
    @TaskLocal static var current: DatabaseTime?

    private let sum = Mutex<Duration>(.zero)

    func add(_ duration: Duration) { sum.withLock { $0 += duration } }

    var total: Duration { sum.withLock { $0 } }

    /// `12.34`: milliseconds with two decimals, as Server-Timing wants them.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = seconds * 100_000 + attoseconds / 10_000_000_000_000
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
