internal import CLibPQ
import Foundation
package import Logging
import Synchronization

/// LISTEN/NOTIFY on a dedicated connection and thread, delivered as async streams.
///
/// The listener keeps its connection alive: when it dies (server restart, a terminated
/// backend, a broken socket) it reconnects with backoff, LISTENs to every channel again and
/// emits `.reconnected`, because notifications sent while it was away are lost and a
/// consumer must poll for what it missed.
package final class PostgresListener: Sendable {
    /// Something the listener saw.
    package enum Event: Sendable, Equatable {
        /// A NOTIFY on a channel this listener LISTENs to.
        case notification(channel: String, payload: String)
        /// The connection was lost and is back; anything may have been missed.
        case reconnected
    }

    private struct State: ~Copyable {
        var channels: Set<String> = []
        var pending: [(channel: SQLIdentifier, done: CheckedContinuation<Void, any Error>)] = []
        var subscribers: [Int: AsyncStream<Event>.Continuation] = [:]
        var nextSubscriber = 0
        var stopped = false
        var connected = false
    }

    private let state = Mutex(State())
    private let connectionString: ConnectionString
    private let applicationName: String
    private let logger: Logger
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Starts the listener thread; it connects at once and keeps retrying until `stop()`.
    package init(
        connectionString: ConnectionString,
        applicationName: String = "muster-listener",
        logger: Logger = Logger(label: "muster.listener")
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.logger = logger
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
        let thread = Thread { [self] in self.run() }
        thread.name = "muster-listen"
        thread.start()
    }

    /// Starts listening on `channel`; returns once the server has executed the LISTEN, so a
    /// NOTIFY committed after this returns is delivered (unless the connection drops, which
    /// is reported as `.reconnected`).
    package func listen(_ channel: SQLIdentifier) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                if state.channels.contains(channel.name) && state.connected { return false }
                state.pending.append((channel, continuation))
                return true
            }
            if accepted {
                wake()
            } else if state.withLock({ $0.stopped }) {
                continuation.resume(throwing: PostgresError(kind: .clientMisuse, message: "the listener is stopped"))
            } else {
                continuation.resume()
            }
        }
    }

    /// A stream of every event from now on. Each call gets its own stream; it ends when the
    /// listener stops or the consumer stops iterating.
    package func events() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = state.withLock { state -> Int? in
            guard !state.stopped else { return nil }
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Stops the thread and closes the connection; every stream finishes.
    package func stop() {
        state.withLock { $0.stopped = true }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func broadcast(_ event: Event) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(event) }
    }

    // MARK: - The listener thread

    private func run() {
        var connection: OpaquePointer?
        var everConnected = false
        var backoff = Duration.milliseconds(100)
        while !state.withLock({ $0.stopped }) {
            if connection == nil {
                connection = connectAndRelisten()
                guard connection != nil else {
                    waitForWake(timeoutMilliseconds: Int32(backoff.components.seconds * 1000 + backoff.components.attoseconds / 1_000_000_000_000_000))
                    backoff = min(backoff * 2, .seconds(5))
                    continue
                }
                backoff = .milliseconds(100)
                if everConnected { broadcast(.reconnected) }
                everConnected = true
            }
            guard let live = connection else { continue }
            if !listenToPending(on: live) || !receive(on: live) {
                logger.warning("listener connection lost; reconnecting", metadata: ["endpoint": "\(connectionString.endpoint)"])
                PQfinish(live)
                connection = nil
                state.withLock { $0.connected = false }
            }
        }
        if let connection { PQfinish(connection) }
        close(wakeRead)
        close(wakeWrite)
        let (subscribers, pending) = state.withLock { state in
            (Array(state.subscribers.values), state.pending.map(\.done))
        }
        subscribers.forEach { $0.finish() }
        pending.forEach { $0.resume(throwing: PostgresError(kind: .clientMisuse, message: "the listener is stopped")) }
    }

    /// Connects and re-issues LISTEN for every known channel. Nil when either step failed.
    private func connectAndRelisten() -> OpaquePointer? {
        let keywords = ["connect_timeout", "fallback_application_name", "dbname"]
        let values: [String?] = ["10", applicationName, connectionString.libpqText]
        let connection = withCStringArrays(keywords, values) { PQconnectdbParams($0, $1, 1) }
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            if let connection {
                logger.debug("listener connect failed", metadata: ["reason": "\(String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines())"])
                PQfinish(connection)
            }
            return nil
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        let channels = state.withLock { $0.channels }
        for channel in channels.sorted() where !execute("LISTEN \"\(channel)\"", on: connection) {
            PQfinish(connection)
            return nil
        }
        state.withLock { $0.connected = true }
        return connection
    }

    private func listenToPending(on connection: OpaquePointer) -> Bool {
        let pending = state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
        for (index, request) in pending.enumerated() {
            guard execute("LISTEN \(request.channel.quoted)", on: connection) else {
                // Keep the rest for the next connection.
                state.withLock { $0.pending.insert(contentsOf: pending[index...], at: 0) }
                return false
            }
            state.withLock { _ = $0.channels.insert(request.channel.name) }
            request.done.resume()
        }
        return true
    }

    /// Waits for input (or a wake-up) and delivers notifications. False when the connection died.
    private func receive(on connection: OpaquePointer) -> Bool {
        var fds = [
            pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, 2, 1000)
        if ready > 0 && fds[1].revents != 0 { drainWakePipe() }
        if ready > 0 && fds[0].revents != 0 {
            guard PQconsumeInput(connection) == 1 else { return false }
        }
        while let notification = PQnotifies(connection) {
            let channel = String(cString: notification.pointee.relname)
            let payload = String(cString: notification.pointee.extra)
            PQfreemem(notification)
            broadcast(.notification(channel: channel, payload: payload))
        }
        return PQstatus(connection) == CONNECTION_OK
    }

    private func execute(_ sql: String, on connection: OpaquePointer) -> Bool {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        return result != nil && PQresultStatus(result) == PGRES_COMMAND_OK
    }

    private func waitForWake(timeoutMilliseconds: Int32) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, timeoutMilliseconds) > 0 { drainWakePipe() }
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}
