import Logging
internal import MusterPostgres
import Synchronization

/// One LISTEN connection per client, shared by every long poll, started on first use.
///
/// Wake-ups use a `NotificationHistory`, so none is lost between a read and the wait that
/// follows it: a caller takes a `token` for the channel before it reads, and
/// `wait(for:since:timeout:)` returns at once if a notification (or a reconnect, after which
/// anything may have been missed) arrived after the token was taken.
final class NotificationHub: Sendable {
    typealias Token = NotificationHistory.Token

    private struct Waiter {
        var channel: String
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State: ~Copyable {
        var listener: PostgresListener?
        var consumer: Task<Void, Never>?
        var history = NotificationHistory()
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var stopped = false
    }

    private let connectionString: ConnectionString
    /// True when LISTEN has a connection string of its own (`listenDatabase`).
    private let ownConnection: Bool
    private let statements: StatementSending
    private let applicationName: String
    private let logger: Logger
    /// False when the client was told not to use LISTEN; long polls then poll.
    let enabled: Bool
    private let state = Mutex(State())
    private let saidPolling = Atomic<Bool>(false)

    init(
        connectionString: ConnectionString, ownConnection: Bool, statements: StatementSending,
        applicationName: String, enabled: Bool, logger: Logger
    ) {
        self.connectionString = connectionString
        self.ownConnection = ownConnection
        self.statements = statements
        self.applicationName = applicationName
        self.enabled = enabled
        self.logger = logger
    }

    /// LISTENs on `channel` (once per client) and returns true; false when LISTEN is disabled,
    /// the hub is stopped, or the pool goes through a transaction pooler (it sends unnamed
    /// statements) and LISTEN has no direct connection of its own: a pooler hands the
    /// listening session to other clients between statements, so notifications would be lost.
    func listen(_ channel: SQLIdentifier) async throws -> Bool {
        guard enabled else { return false }
        guard ownConnection || !statements.usesUnnamed else {
            stopListening()
            return false
        }
        guard let listener = startIfNeeded() else { return false }
        try await listener.listen(channel)
        return true
    }

    /// Behind a transaction pooler without a listen connection: polls from now on, says so once.
    private func stopListening() {
        guard saidPolling.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        logger.warning("statements go through a transaction pooler and no listen connection is configured; polling instead of LISTEN", metadata: [
            "hint": "set MusterClient.Options.listenDatabase (--listen-url, MUSTER_LISTEN_URL) to a direct connection to wake workers at once",
        ])
        let (listener, consumer) = state.withLock { state in
            defer { state.listener = nil; state.consumer = nil }
            return (state.listener, state.consumer)
        }
        listener?.stop()
        consumer?.cancel()
    }

    /// The current point in `channel`'s history; take it before reading.
    func token(for channel: String) -> Token {
        state.withLock { $0.history.token(for: channel) }
    }

    /// Waits until `channel` was notified (or the listener reconnected) after `token`, or
    /// `timeout` passes. Returns true when woken by the database.
    func wait(for channel: String, since token: Token, timeout: Duration) async -> Bool {
        await withTimeout(timeout, otherwise: false) { await self.notified(channel, since: token) }
    }

    /// Waits until `channel` moved past `token`; false when cancelled or the hub stopped.
    private func notified(_ channel: String, since token: Token) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Under the lock the cancellation handler takes: a cancellation either is
                // seen here or finds this waiter registered.
                let answer = state.withLock { state -> Bool? in
                    if state.history.hasMoved(channel, since: token) || state.stopped { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = Waiter(channel: channel, continuation: continuation)
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            self.resume(id, with: false)
        }
    }

    func stop() {
        let (listener, consumer, waiters) = state.withLock { state in
            state.stopped = true
            defer { state.waiters.removeAll() }
            return (state.listener, state.consumer, Array(state.waiters.values))
        }
        listener?.stop()
        consumer?.cancel()
        waiters.forEach { $0.continuation.resume(returning: false) }
    }

    private func resume(_ id: Int, with value: Bool) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: value)
    }

    private func startIfNeeded() -> PostgresListener? {
        state.withLock { state -> PostgresListener? in
            guard !state.stopped else { return nil }
            if let listener = state.listener { return listener }
            let listener = PostgresListener(connectionString: connectionString, applicationName: applicationName, logger: logger)
            let events = listener.events()
            state.listener = listener
            state.consumer = Task { [weak self] in
                for await event in events { self?.deliver(event) }
            }
            return listener
        }
    }

    private func deliver(_ event: PostgresListener.Event) {
        let woken = state.withLock { state -> [Waiter] in
            let matches: (Waiter) -> Bool
            switch event {
            case .reconnected:
                state.history.reconnected()
                matches = { _ in true }
            case .notification(let channel, _):
                state.history.notified(channel)
                matches = { $0.channel == channel }
            }
            let ids = state.waiters.filter { matches($0.value) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        woken.forEach { $0.continuation.resume(returning: true) }
    }
}
