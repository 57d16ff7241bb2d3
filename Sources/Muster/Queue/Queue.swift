import Foundation
internal import MusterPostgres

/// One queue of a `MusterClient`: send, read with a lease, and settle messages.
///
/// Guarantees (each backed by an integration test): a message leaves the queue only by ack,
/// archive, dead-letter or purge; every read issues a new lease whose read count fences
/// later acks, extensions and releases; sends carry a dedup key, so a retried send enqueues
/// once; idempotent writes are retried once on a fresh connection after a connection loss.
public struct Queue: Sendable {
    /// The queue's name.
    public let name: QueueName
    let client: MusterClient
    let sql: QueueSQL

    init(name: QueueName, client: MusterClient) {
        self.name = name
        self.client = client
        self.sql = client.queueSQL
    }

    /// Fenced batch operations return (id, applied) rows; split them into applied and lost.
    func outcome(of rows: PostgresRows, for leases: [Lease]) throws -> LeaseOutcome {
        var applied = Set<Int64>()
        for row in rows.rows where try row.decode(1, as: Bool.self) {
            applied.insert(try row.decode(0, as: Int64.self))
        }
        return LeaseOutcome(
            applied: leases.filter { applied.contains($0.messageID) },
            lost: leases.filter { !applied.contains($0.messageID) }
        )
    }
}

extension MusterClient {
    /// The queue named `name`. Nothing is checked until it is used; an unknown queue then
    /// fails with `unknownQueue` (queues are created explicitly, never on first send).
    public func queue(_ name: QueueName) -> Queue {
        Queue(name: name, client: self)
    }
}
