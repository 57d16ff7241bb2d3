import Foundation
import Muster
@testable import MusterPostgres

/// Makes time pass in one test schema without waiting for it: moves the timestamps that
/// leases, delays, deadlines and retention periods are measured from into the past.
///
/// Tests use this instead of sleeping past a duration, so they neither wait for the wall
/// clock nor race it: on a busy machine a sleep can end late (a 2 s lease expires before
/// the test looks) and a step can run late (a 3 s deadline passes before the work is done).
/// Each helper changes only rows that are already in the state it names.
struct TimeTravel {
    let schema: SchemaName

    /// Every lease held on `queue` has expired: the next read takes those messages again
    /// (with the next read count), and any ack, extension or release from the old
    /// holder is fenced out.
    func expireLeases(on queue: QueueName) async throws {
        try await move("messages", set: "visible_at = now() - interval '1 millisecond'",
                       where: "queue = $1 AND state = 'leased'", [queue.rawValue])
    }

    /// Every delayed message on `queue` (a send delay or a retry backoff) is due now.
    func endDelays(on queue: QueueName) async throws {
        try await move("messages", set: "visible_at = now() - interval '1 millisecond'",
                       where: "queue = $1 AND state = 'delayed'", [queue.rawValue])
    }

    /// The barrier's deadline has just passed.
    func passDeadline(ofBarrier id: Int64) async throws {
        try await move("barriers", set: "deadline = now() - interval '1 millisecond'", where: "id = $1", [id])
    }

    /// Every held orchestration claim has expired, as if its holder had died.
    func expireClaims() async throws {
        try await move("claims", set: "expires_at = now() - interval '1 millisecond'", where: "state = 'held'")
    }

    /// Every tombstone (finished claim) was left `age` earlier than it was.
    func ageTombstones(by age: Duration) async throws {
        try await move("claims", set: "finished_at = finished_at - $1::interval", where: "state = 'finished'", [age])
    }

    /// Every execution was created, and every finished one finished, `age` earlier.
    func ageExecutions(by age: Duration) async throws {
        try await move("executions", set: "created_at = created_at - $1::interval, finished_at = finished_at - $1::interval",
                       where: "true", [age])
    }

    /// The reaper's leadership lease has expired, as if its holder had stopped renewing it.
    func expireLeadership() async throws {
        try await move("leader_leases", set: "expires_at = now() - interval '1 millisecond'", where: "name = 'reaper'")
    }

    private func move(_ table: String, set assignments: String, where condition: String,
                      _ parameters: [(any PostgresEncodable)?] = []) async throws {
        try await TestDatabase.query("UPDATE \(schema.quoted).\(table) SET \(assignments) WHERE \(condition)", parameters)
    }
}
