package import Logging

/// A bounded pool of `PostgresConnection`s.
///
/// At most `maxConnections` exist at once; a caller waits up to `acquireTimeout` for one and
/// then gets a `poolTimeout` error. A connection that failed at the connection level is
/// closed and replaced, never handed out again.
package actor ConnectionPool {
    /// Pool settings.
    package struct Options: Sendable {
        package var maxConnections: Int
        package var acquireTimeout: Duration
        package var applicationName: String

        package init(maxConnections: Int = 8, acquireTimeout: Duration = .seconds(10), applicationName: String = "muster") {
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.applicationName = applicationName
        }
    }

    package nonisolated let connectionString: ConnectionString
    package nonisolated let options: Options
    private let logger: Logger
    private var state: PoolState<PostgresConnection, Int>
    private var continuations: [Int: CheckedContinuation<PostgresConnection, any Error>] = [:]
    private var nextWaiter = 0
    private var closed = false

    package init(connectionString: ConnectionString, options: Options = Options(), logger: Logger = Logger(label: "muster.pool")) {
        self.connectionString = connectionString
        self.options = options
        self.logger = logger
        self.state = PoolState(maxSize: options.maxConnections)
    }

    /// Lends a connection to `body` and takes it back afterwards, also when `body` throws.
    nonisolated(nonsending) package func withConnection<T>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    nonisolated(nonsending) package func withTransaction<T>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.withTransaction { try await body($0) }
        }
    }

    /// Takes a connection out of the pool; the caller must `release` it.
    package func acquire() async throws -> PostgresConnection {
        guard !closed else { throw PostgresError(kind: .clientMisuse, message: "the connection pool is closed") }
        nextWaiter += 1
        let waiter = nextWaiter
        switch state.acquire(waiter) {
        case .use(let connection):
            return connection
        case .open:
            do {
                return try await open()
            } catch {
                perform(state.openFailed())
                throw error
            }
        case .wait:
            return try await wait(waiter)
        }
    }

    /// Returns a connection. A broken one is closed and its slot reused.
    package func release(_ connection: PostgresConnection) async {
        let healthy = await !connection.isBroken && !closed
        if !healthy { await connection.close() }
        perform(state.release(connection, healthy: healthy))
    }

    /// Closes idle connections and refuses new acquires; leased ones close when released.
    package func close() async {
        closed = true
        for connection in state.drainIdle() { await connection.close() }
        for (_, continuation) in continuations {
            continuation.resume(throwing: PostgresError(kind: .clientMisuse, message: "the connection pool is closed"))
        }
        continuations.removeAll()
    }

    private func open() async throws -> PostgresConnection {
        try await PostgresConnection.connect(to: connectionString, applicationName: options.applicationName, logger: logger)
    }

    private func wait(_ waiter: Int) async throws -> PostgresConnection {
        let timeout = options.acquireTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.giveUp(waiter, with: PostgresError(
                kind: .poolTimeout,
                message: "no connection became free within \(timeout) (pool size \(self?.options.maxConnections ?? 0))"
            ))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                continuations[waiter] = continuation
            }
        } onCancel: {
            Task { await self.giveUp(waiter, with: CancellationError()) }
        }
    }

    private func giveUp(_ waiter: Int, with error: any Error) {
        guard state.removeWaiter(waiter), let continuation = continuations.removeValue(forKey: waiter) else { return }
        continuation.resume(throwing: error)
    }

    private func perform(_ action: PoolState<PostgresConnection, Int>.ReleaseAction) {
        switch action {
        case .none:
            break
        case .handOver(let connection, let waiter):
            continuations.removeValue(forKey: waiter)?.resume(returning: connection)
        case .openFor(let waiter):
            Task {
                do {
                    let connection = try await open()
                    handOverOpened(connection, to: waiter)
                } catch {
                    perform(state.openFailed())
                    continuations.removeValue(forKey: waiter)?.resume(throwing: error)
                }
            }
        }
    }

    private func handOverOpened(_ connection: PostgresConnection, to waiter: Int) {
        if let continuation = continuations.removeValue(forKey: waiter) {
            continuation.resume(returning: connection)
        } else {
            // The waiter gave up while we were opening: keep the connection for the next one.
            perform(state.release(connection, healthy: true))
        }
    }
}
