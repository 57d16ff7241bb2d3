import Foundation
import Muster
@testable import MusterPostgres

/// A migrated schema, a queue, an `events` table the test worker records into, and helpers
/// to start real `muster test-worker` processes against them.
struct WorkerFixture {
    let queueFixture: QueueFixture
    var schema: SchemaName { queueFixture.schema }
    var queue: Queue { queueFixture.queue }
    var client: MusterClient { queueFixture.client }
    var time: TimeTravel { queueFixture.time }

    static func with<T>(settings: QueueSettings, _ body: (WorkerFixture) async throws -> T) async throws -> T {
        try await QueueFixture.with(settings: settings) { queueFixture in
            try await TestDatabase.query("""
                CREATE TABLE \(queueFixture.schema.quoted).events (
                    message_id bigint, read_ct int, pid int, event text, at timestamptz DEFAULT clock_timestamp())
                """)
            return try await body(WorkerFixture(queueFixture: queueFixture))
        }
    }

    /// Starts a worker process on the fixture's queue.
    func startWorker(_ extra: [String] = [], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess([
            "test-worker", "--database-url", try TestDatabase.url(), "--schema", schema.name,
            "--queue", queue.name.rawValue, "--record-table", "events",
        ] + extra, environment: environment)
    }

    /// Sends one test instruction; returns its message id.
    func send(_ action: String, seconds: Double? = nil, untilAttempt: Int? = nil) async throws -> Int64 {
        var object: [String: Any] = ["action": action]
        if let seconds { object["seconds"] = seconds }
        if let untilAttempt { object["until_attempt"] = untilAttempt }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        return try await queue.send(OutgoingMessage(payload: try JSONPayload(json: json), task: "test")).id
    }

    /// Lets a `gate` handler of the message finish.
    func proceed(_ messageID: Int64) async throws {
        try await TestDatabase.query("INSERT INTO \(schema.quoted).events (message_id, event) VALUES ($1, 'proceed')", [messageID])
    }

    /// (read_ct, pid, event) rows the worker recorded for a message, in order.
    func events(_ messageID: Int64) async throws -> [(readCount: Int, pid: Int32, event: String)] {
        try await TestDatabase.query(
            "SELECT read_ct, pid, event FROM \(schema.quoted).events WHERE message_id = $1 AND pid IS NOT NULL ORDER BY at", [messageID]
        ).rows.map { (try $0.decode(0), try $0.decode(1), try $0.decode(2)) }
    }

    func eventCount(_ event: String) async throws -> Int {
        try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).events WHERE event = $1", [event]).single().decode(0)
    }

    func messageExists(_ id: Int64) async throws -> Bool {
        try await queueFixture.count("messages", where: "id = \(id)") == 1
    }

    /// The message's state and visible_at, as the table has them.
    func state(_ id: Int64) async throws -> (state: String, visibleInSeconds: Double)? {
        try await queueFixture.state(id)
    }
}
