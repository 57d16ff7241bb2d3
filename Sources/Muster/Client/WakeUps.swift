import Logging
import Synchronization

/// Wakes the workers of the queues this client sent to, after the sends committed, instead
/// of a NOTIFY inside each send's transaction.
///
/// PostgreSQL serialises the commits of all transactions that issued NOTIFY on one
/// database-wide lock, so a NOTIFY per send makes concurrent producers queue behind each
/// other. Here at most one NOTIFY statement of this client is in flight; the channels poked
/// meanwhile go out together in the next one, `spacing` later. A send with no other in
/// flight wakes its workers at once (one round trip after its commit), a burst costs the
/// database about 1/`spacing` notifies a second, and every poke is followed by a notify. A
/// notify that fails is only logged: workers also poll.
final class WakeUps: Sendable {
    typealias Notify = @Sendable ([String]) async throws -> Void

    private let pending = Mutex(WakeUpBatch())
    private let spacing: Duration
    private let notify: Notify
    private let logger: Logger

    init(spacing: Duration = .milliseconds(10), logger: Logger, notify: @escaping Notify) {
        self.spacing = spacing
        self.logger = logger
        self.notify = notify
    }

    /// Asks for a notify on `channel`; returns at once.
    func poke(_ channel: String) {
        if pending.withLock({ $0.poke(channel) }) {
            Task { await self.flush() }
        }
    }

    /// Sends notifies until no channel is waiting: at once for an isolated send, one per
    /// `spacing` during a burst (pokes that arrived while a notify was in flight).
    private func flush() async {
        while true {
            let channels = pending.withLock { $0.take() }
            guard !channels.isEmpty else { return }
            do {
                try await notify(channels)
            } catch {
                logger.debug("waking workers failed; they will poll", metadata: ["error": "\(error)"])
            }
            if pending.withLock({ !$0.channels.isEmpty }) {
                // Never cancelled (nothing holds this task), so the sleep always waits.
                try? await Task.sleep(for: spacing)
            }
        }
    }
}

/// The bookkeeping of `WakeUps`, a pure value: which channels wait for a notify, and whether
/// a flusher runs.
struct WakeUpBatch: Sendable, Hashable {
    private(set) var channels: Set<String> = []
    private(set) var flushing = false

    /// Records `channel`; true when the caller must start the flusher (none runs).
    mutating func poke(_ channel: String) -> Bool {
        channels.insert(channel)
        guard !flushing else { return false }
        flushing = true
        return true
    }

    /// The channels to notify now, sorted; empty means the flusher stops (and the next poke
    /// starts a new one).
    mutating func take() -> [String] {
        let taken = channels.sorted()
        channels = []
        if taken.isEmpty { flushing = false }
        return taken
    }
}
