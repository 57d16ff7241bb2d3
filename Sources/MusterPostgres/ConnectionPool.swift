package import Logging
import Synchronization

/// A bounded pool of `PostgresConnection`s.
///
/// At most `maxConnections` exist at once; a caller waits up to `acquireTimeout` for one and
/// then gets a `poolTimeout` error. A connection that failed at the connection level is
/// closed and replaced, never handed out again. Acquire and release take a lock, not an
/// actor hop: a statement's only thread switch is the one onto its connection's thread.
package final class ConnectionPool: Sendable {
    /// Pool settings.
    package struct Options: Sendable {
        package var maxConnections: Int
        package var acquireTimeout: Duration
        package var applicationName: String
        /// How the pool's connections send named statements (shared: a switch to unnamed
        /// statements applies to all of them).
        package var statements: StatementSending

        package init(
            maxConnections: Int = 8,
            acquireTimeout: Duration = .seconds(10),
            applicationName: String = "muster",
            statements: StatementSending = StatementSending(unnamed: false)
        ) {
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.applicationName = applicationName
            self.statements = statements
        }
    }

    private typealias Handout = Result<PostgresConnection, any Error>

    private struct State: ~Copyable {
        var pool: PoolState<PostgresConnection, Int>
        /// Parked acquirers.
        var continuations: [Int: CheckedContinuation<PostgresConnection, any Error>] = [:]
        /// Hand-outs that arrived before their acquirer parked.
        var early: [Int: Handout] = [:]
        var nextWaiter = 0
        var closed = false
    }

    package let connectionString: ConnectionString
    package let options: Options
    private let logger: Logger
    private let state: Mutex<State>
    /// `host:port` of the server the last new connection reached.
    private let lastServer = Mutex<String?>(nil)

    package init(connectionString: ConnectionString, options: Options = Options(), logger: Logger = Logger(label: "muster.pool")) {
        self.connectionString = connectionString
        self.options = options
        self.logger = logger
        self.state = Mutex(State(pool: PoolState(maxSize: options.maxConnections)))
    }

    /// Lends a connection to `body` and takes it back afterwards, also when `body` throws.
    nonisolated(nonsending) package func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    nonisolated(nonsending) package func withTransaction<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.withTransaction { try await body($0) }
        }
    }

    /// Takes a connection out of the pool; the caller must `release` it.
    package func acquire() async throws -> PostgresConnection {
        let (waiter, action) = try state.withLock { state -> (Int, PoolState<PostgresConnection, Int>.AcquireAction) in
            guard !state.closed else { throw Self.closedError }
            state.nextWaiter += 1
            return (state.nextWaiter, state.pool.acquire(state.nextWaiter))
        }
        switch action {
        case .use(let connection):
            return connection
        case .open:
            do {
                return try await open()
            } catch {
                perform(state.withLock { $0.pool.openFailed() })
                throw error
            }
        case .wait:
            return try await park(waiter)
        }
    }

    /// Returns a connection. A broken one is closed and its slot reused; so are the idle
    /// ones, since a lost connection usually means a server restart, failover or terminated
    /// backends, which leave the idle ones dead too: the retry that follows a lost connection
    /// then gets a fresh connection, not another dead one.
    package func release(_ connection: PostgresConnection) {
        let broken = connection.isBroken
        let (action, idle) = state.withLock { state in
            (state.pool.release(connection, healthy: !broken && !state.closed), broken ? state.pool.drainIdle() : [])
        }
        if broken || state.withLock({ $0.closed }) {
            Task { await connection.close() }
        }
        if !idle.isEmpty {
            logger.info("a connection was lost; closing the idle ones too", metadata: ["idle": "\(idle.count)"])
            Task { for connection in idle { await connection.close() } }
        }
        perform(action)
    }

    /// Closes idle connections and refuses new acquires; leased ones close when released.
    package func close() async {
        let (idle, parked) = state.withLock { state in
            state.closed = true
            defer { state.continuations.removeAll() }
            return (state.pool.drainIdle(), Array(state.continuations.values))
        }
        parked.forEach { $0.resume(throwing: Self.closedError) }
        for connection in idle { await connection.close() }
    }

    private static var closedError: PostgresError {
        PostgresError(kind: .clientMisuse, message: "the connection pool is closed")
    }

    /// Opens a connection; logs one line when it reached another server than the last one
    /// did (a multi-host URL after a failover).
    private func open() async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(
            to: connectionString, applicationName: options.applicationName, statements: options.statements, logger: logger
        )
        let server = await connection.server
        let previous = lastServer.withLock { last in
            defer { last = server }
            return last
        }
        if let previous, previous != server {
            logger.warning("connected to another database server; the pool follows it", metadata: ["server": "\(server)", "previous": "\(previous)"])
        }
        return connection
    }

    private func park(_ waiter: Int) async throws -> PostgresConnection {
        let timeout = options.acquireTimeout
        let size = options.maxConnections
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.giveUp(waiter, with: PostgresError(
                kind: .poolTimeout, message: "no connection became free within \(timeout) (pool size \(size))"
            ))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = state.withLock { state -> Handout? in
                    if let handout = state.early.removeValue(forKey: waiter) { return handout }
                    state.continuations[waiter] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            self.giveUp(waiter, with: CancellationError())
        }
    }

    /// Gives a parked (or about to park) acquirer its result.
    private func deliver(_ handout: Handout, to waiter: Int) {
        let continuation = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            if let continuation = state.continuations.removeValue(forKey: waiter) { return continuation }
            state.early[waiter] = handout
            return nil
        }
        continuation?.resume(with: handout)
    }

    private func giveUp(_ waiter: Int, with error: any Error) {
        guard state.withLock({ $0.pool.removeWaiter(waiter) }) else { return }
        deliver(.failure(error), to: waiter)
    }

    private func perform(_ action: PoolState<PostgresConnection, Int>.ReleaseAction) {
        switch action {
        case .none:
            break
        case .handOver(let connection, let waiter):
            deliver(.success(connection), to: waiter)
        case .openFor(let waiter):
            Task {
                do {
                    deliver(.success(try await open()), to: waiter)
                } catch {
                    perform(state.withLock { $0.pool.openFailed() })
                    deliver(.failure(error), to: waiter)
                }
            }
        }
    }
}
