import Synchronization

/// The reads a worker's fetch loop has in flight: how many, the capacity they reserved, and
/// what the last ones said (nothing to read since a notification token; failed, so pause).
final class ReadStreams: Sendable {
    struct Snapshot {
        var running = 0
        var reserved = 0
        /// Set when a read found nothing: the notification token taken before it.
        var emptyToken: NotificationHub.Token?
        var pausedUntil: ContinuousClock.Instant?
        var failures = 0
        /// A read that ran beside another found nothing: it may only have skipped the rows the
        /// other one locked. The next read runs alone, and only its answer counts as empty.
        var probeAlone = false
        /// Reads begun so far: a read ran alone when none began during it.
        var begun = 0
    }

    /// Identifies a read in flight.
    struct Ticket {
        fileprivate let limit: Int
        fileprivate let number: Int
        fileprivate let startedAlone: Bool
    }

    private let state = Mutex(Snapshot())

    var snapshot: Snapshot { state.withLock { $0 } }

    /// A read of up to `limit` starts.
    func begin(reserving limit: Int) -> Ticket {
        state.withLock {
            $0.running += 1
            $0.reserved += limit
            $0.begun += 1
            return Ticket(limit: limit, number: $0.begun, startedAlone: $0.running == 1)
        }
    }

    /// A read ended; `foundNothing` is its token when it leased nothing. Nothing found counts
    /// as an empty queue only for a read that ran alone from start to end.
    func end(_ ticket: Ticket, foundNothing token: NotificationHub.Token?) {
        state.withLock {
            let alone = ticket.startedAlone && $0.begun == ticket.number
            $0.running -= 1
            $0.reserved -= ticket.limit
            $0.failures = 0
            $0.pausedUntil = nil
            if let token {
                if alone { $0.emptyToken = token } else { $0.probeAlone = true }
            } else {
                $0.probeAlone = false
            }
        }
    }

    /// A read failed; returns the pause before the next one (backing off).
    func failed(_ ticket: Ticket) -> Duration {
        state.withLock {
            $0.running -= 1
            $0.reserved -= ticket.limit
            $0.failures += 1
            let pause = RetryBackoff(base: .milliseconds(100), max: .seconds(5)).ceiling(afterAttempt: $0.failures)
            $0.pausedUntil = .now + pause
            return pause
        }
    }

    /// The empty queue was waited on; read again.
    func clearEmpty() { state.withLock { $0.emptyToken = nil } }
}
