import Foundation
internal import MusterPostgres
import Tracing

extension Queue {
    /// Sends one message, with the guarantees of the batch form `send(_:)`, in one statement
    /// without arrays (`send_message`).
    @discardableResult
    public func send(_ message: OutgoingMessage) async throws -> SendResult {
        try await traced(1) {
            let parameters = try sendParameters(message) + [false]
            let rows = try await client.run(sql.sendOne, parameters, retry: .dedupKeyed)
            if message.delay <= .zero { client.wakeUps.poke(notificationChannel.name) }
            return try Self.sendResult(rows)
        }
    }

    /// Sends messages in one statement and one round trip, returning one result per message
    /// in order. A message without a dedup key gets a generated one, which makes the send safe
    /// to retry after an ambiguous commit: it is retried once on a fresh connection (within 4
    /// minutes of the first attempt; later the `connectionLost` error is thrown, the outcome
    /// unknown) and enqueues once. A duplicate key returns the existing message's id.
    ///
    /// Workers waiting on the queue are woken after the commit, by a notify this client sends
    /// on its own (`WakeUps`), so concurrent producers do not serialise their commits on
    /// PostgreSQL's notify lock.
    ///
    /// Throws `unknownQueue`, `payloadTooLarge` (naming size and limit) or `invalidArgument`;
    /// nothing is written then.
    @discardableResult
    public func send(_ messages: [OutgoingMessage]) async throws -> [SendResult] {
        guard !messages.isEmpty else { return [] }
        return try await traced(messages.count) {
            let parameters = try sendParameters(messages) + [false]
            let rows = try await client.run(sql.send, parameters, retry: .dedupKeyed)
            if messages.contains(where: { $0.delay <= .zero }) { client.wakeUps.poke(notificationChannel.name) }
            return try Self.sendResults(rows, count: messages.count)
        }
    }

    /// Sends inside the caller's transaction: the messages exist only if it commits, and its
    /// commit wakes the queue's workers (a NOTIFY in the transaction).
    @discardableResult
    public func send(_ messages: [OutgoingMessage], in transaction: Transaction) async throws -> [SendResult] {
        guard !messages.isEmpty else { return [] }
        return try await traced(messages.count) {
            let parameters = try sendParameters(messages) + [true]
            let rows = try await client.run(sql.send, parameters, on: transaction.connection)
            return try Self.sendResults(rows, count: messages.count)
        }
    }

    /// Sends one message inside the caller's transaction.
    @discardableResult
    public func send(_ message: OutgoingMessage, in transaction: Transaction) async throws -> SendResult {
        try await traced(1) {
            let parameters = try sendParameters(message) + [true]
            return try Self.sendResult(try await client.run(sql.sendOne, parameters, on: transaction.connection))
        }
    }

    private func sendParameters(_ message: OutgoingMessage) throws -> [(any PostgresEncodable)?] {
        try message.validate()
        return [
            name.rawValue,
            PostgresJSON(text: message.payload.text),
            message.dedupKey ?? DedupKeyGenerator.next(),
            try headersJSON(message, trace: MessageTracing.currentHeaders()),
            message.task,
            message.executionID,
            message.priority,
            message.delay,
        ]
    }

    /// The headers as JSON, with the sender's trace context (`MessageTracing.currentHeaders`,
    /// once per send) added; a header the caller set keeps its value.
    private func headersJSON(_ message: OutgoingMessage, trace: [String: String]) throws -> PostgresJSON? {
        let headers = message.headers.merging(trace) { own, _ in own }
        return headers.isEmpty ? nil : PostgresJSON(text: try JSONPayload(encoding: headers).text)
    }

    /// Runs a send in a `send <queue>` producer span while a tracer is bootstrapped, so the
    /// messages carry that span's context (their handlers' spans become its children).
    private func traced<T>(_ count: Int, _ send: () async throws -> T) async throws -> T {
        guard MessageTracing.isEnabled else { return try await send() }
        return try await withSpan("send \(name.rawValue)", ofKind: .producer) { span in
            span.updateAttributes { $0.merge(MessageTracing.attributes(queue: name, messageCount: count)) }
            return try await send()
        }
    }

    private static func sendResult(_ rows: PostgresRows) throws -> SendResult {
        guard let row = rows.rows.first else { throw MusterError(.database, "send returned no row") }
        return SendResult(id: try row.decode(0), duplicate: try row.decode(1))
    }

    private func sendParameters(_ messages: [OutgoingMessage]) throws -> [(any PostgresEncodable)?] {
        guard messages.count <= 100_000 else {
            throw MusterError(.invalidArgument, "a batch holds at most 100000 messages (got \(messages.count))")
        }
        for message in messages { try message.validate() }
        let trace = MessageTracing.currentHeaders()
        let headers = try messages.map { try headersJSON($0, trace: trace) }
        return [
            name.rawValue,
            messages.map { PostgresJSON(text: $0.payload.text) },
            messages.map { $0.dedupKey ?? DedupKeyGenerator.next() },
            headers,
            messages.map(\.task),
            messages.map(\.executionID),
            messages.map(\.priority),
            messages.map(\.delay),
        ]
    }

    private static func sendResults(_ rows: PostgresRows, count: Int) throws -> [SendResult] {
        var results = [SendResult?](repeating: nil, count: count)
        for row in rows.rows {
            let ordinal = try row.decode(0, as: Int.self)
            guard (1...count).contains(ordinal) else { continue }
            results[ordinal - 1] = SendResult(id: try row.decode(1), duplicate: try row.decode(2))
        }
        return try results.map { result in
            guard let result else { throw MusterError(.database, "send returned fewer rows than messages") }
            return result
        }
    }
}
