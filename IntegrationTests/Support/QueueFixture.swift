import Foundation
import Muster
@testable import MusterPostgres

/// A migrated private schema, a client on it and one created queue.
struct QueueFixture {
    let schema: SchemaName
    let client: MusterClient
    let queue: Queue
    /// `application_name` of the client's connections, to find (and kill) them.
    let applicationName: String

    /// Runs `body` with a fresh schema, client and queue; tears everything down after.
    static func with<T>(
        settings: QueueSettings = QueueSettings(),
        options: MusterClient.Options = MusterClient.Options(),
        _ body: (QueueFixture) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            var options = options
            options.applicationName = "mt_\(schema.name)"
            let client = try TestDatabase.client(schema: schema, options: options)
            let name: QueueName = "jobs"
            try await client.createQueue(name, settings: settings)
            let fixture = QueueFixture(schema: schema, client: client, queue: client.queue(name), applicationName: options.applicationName)
            do {
                let value = try await body(fixture)
                await client.shutdown()
                return value
            } catch {
                await client.shutdown()
                throw error
            }
        }
    }

    /// Moves this schema's leases, delays, deadlines and retention clocks into the past.
    var time: TimeTravel { TimeTravel(schema: schema) }

    /// One statement against the fixture's schema (table names unqualified).
    func count(_ table: String, where condition: String = "true") async throws -> Int {
        try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).\(table) WHERE \(condition)").single().decode(0)
    }

    /// Row counts of every queue table, to prove that bad input changed nothing.
    func snapshot() async throws -> [Int] {
        var counts: [Int] = []
        for table in ["queues", "messages", "message_keys", "archive", "dead_letters"] { counts.append(try await count(table)) }
        return counts
    }

    /// A message's state and how many seconds remain until its `visible_at`, as the table has them.
    func state(_ id: Int64) async throws -> (state: String, visibleInSeconds: Double)? {
        try await TestDatabase.query(
            "SELECT state, extract(epoch FROM visible_at - now())::float8 FROM \(schema.quoted).messages WHERE id = $1", [id]
        ).rows.first.map { (try $0.decode(0), try $0.decode(1)) }
    }

    /// Starts a long poll that polls only every 120 s, runs `send` once the poll listens,
    /// and returns what the poll got and how long after the send. Only a NOTIFY can wake
    /// the poll within a minute: a functional bound, not a benchmark (latency figures live
    /// in docs/benchmarks.md).
    func readWokenBy(_ send: () async throws -> Void) async throws -> (messages: [ReceivedMessage], after: Duration) {
        let clock = ContinuousClock()
        async let reader = queue.read(waitUpTo: .seconds(120), pollInterval: .seconds(120))
        try await waitForListener()
        let sentAt = clock.now
        try await send()
        let messages = try await reader
        return (messages, clock.now - sentAt)
    }

    /// Waits until this client's listener connection has sent a LISTEN.
    func waitForListener() async throws {
        try await waitUntil("the client's listener to LISTEN") {
            try await TestDatabase.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                ["\(applicationName)-listener"]
            ).single().decode(0, as: Int.self) > 0
        }
    }

    /// Terminates every backend of this fixture's client.
    @discardableResult
    func terminateClientConnections() async throws -> Int {
        try await TestDatabase.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [applicationName]
        ).rows.count
    }

    static func payload(_ value: Int) -> OutgoingMessage {
        OutgoingMessage(payload: try! JSONPayload(json: #"{"n":\#(value)}"#))
    }
}

extension ReceivedMessage {
    /// The `n` of a `QueueFixture.payload(n)` message.
    var n: Int {
        struct Body: Decodable { var n: Int }
        return (try? payload.decode(as: Body.self).n) ?? -1
    }
}
