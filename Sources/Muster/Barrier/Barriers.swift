import Foundation
internal import MusterPostgres
import Logging
import Tracing

/// Fan-out/fan-in barriers of a client's schema.
///
/// Guarantees (each backed by an integration test): arming a barrier and sending its members
/// happen in one statement, inside the caller's transaction when one is given; a member is
/// counted once whatever the duplicates; recording it, acking its message and, for the last
/// one, enqueueing the callback happen in one transaction, so the callback is enqueued exactly
/// once even when the last members complete concurrently.
public struct Barriers: Sendable {
    let client: MusterClient
    private var sql: OrchestrationSQL { client.orchestrationSQL }

    /// Most members one fan-out may have.
    public static let maxMembers = 1_000_000

    /// Arms the barrier and sends its members in one statement and one round trip. No
    /// members fires the callback at once. Idempotent per (execution, name): a repeat returns
    /// the existing barrier with `created = false` and sends nothing, so it is retried after a
    /// lost connection. With `transaction`, everything happens only if the caller commits.
    ///
    /// Throws `unknownQueue`, `unknownExecution`, `illegalTransition` (the execution is
    /// terminal), `payloadTooLarge` or `invalidArgument` (names, duplicate keys); nothing is
    /// written then.
    @discardableResult
    public func fanOut(_ fanOut: FanOut, in transaction: Transaction? = nil) async throws -> FanOutResult {
        guard fanOut.members.count <= Self.maxMembers else {
            throw MusterError(.invalidArgument, "a fan-out holds at most \(Self.maxMembers) members (got \(fanOut.members.count))")
        }
        guard MessageTracing.isEnabled else { return try await send(fanOut, in: transaction) }
        return try await tracedFanOut(fanOut, in: transaction)
    }

    /// The fan-out in a `fan-out <barrier>` producer span whose context every member message
    /// carries, so the members' spans are its children. `fan_out` builds the members' headers
    /// in SQL, so the context is merged into them by one more statement in the same
    /// transaction (before any worker can see them), paid only while a tracer is bootstrapped.
    /// Still retried once after a lost connection: a repeat finds the barrier and sends nothing.
    private func tracedFanOut(_ fanOut: FanOut, in transaction: Transaction?) async throws -> FanOutResult {
        try await withSpan("fan-out \(fanOut.name)", ofKind: .producer) { span in
            span.updateAttributes { attributes in
                attributes.merge(MessageTracing.attributes(queue: fanOut.memberQueue, messageCount: fanOut.members.count))
                attributes["muster.execution.id"] = fanOut.executionID.uuidString.lowercased()
            }
            var carrier: [String: String] = [:]
            MessageTracing.inject(span.context, into: &carrier)
            let context = try PostgresJSON(text: JSONPayload(encoding: carrier).text)
            let sql = self.sql
            func traced(_ transaction: Transaction) async throws -> FanOutResult {
                let result = try await send(fanOut, in: transaction)
                if result.created, !carrier.isEmpty {
                    _ = try await client.run(sql.traceMembers, [result.barrierID, context], on: transaction.connection)
                }
                return result
            }
            if let transaction { return try await traced(transaction) }
            return try await client.withRetry(.idempotent) { try await client.withTransaction(traced) }
        }
    }

    private func send(_ fanOut: FanOut, in transaction: Transaction?) async throws -> FanOutResult {
        let parameters: [(any PostgresEncodable)?] = [
            fanOut.executionID, fanOut.name, fanOut.memberQueue.rawValue, fanOut.memberTask,
            fanOut.members.map(\.key), fanOut.members.map { PostgresJSON(text: $0.payload.text) },
            fanOut.callbackQueue.rawValue, fanOut.callbackTask, PostgresJSON(text: fanOut.callbackPayload.text),
            fanOut.onFailure.rawValue, fanOut.deadline,
        ]
        let rows = try await client.run(sql.fanOut, parameters, in: transaction, retry: .idempotent)
        let row = try rows.single()
        return FanOutResult(barrierID: try row.decode(0), created: try row.decode(1), callbackMessageID: try row.decodeIfPresent(2))
    }

    /// Completes a member held under `lease` on `queue`: acks its message (fenced) and records
    /// the outcome in one statement; the completion that leaves no member outstanding enqueues
    /// the callback. A lost lease records nothing (`applied == false`); a duplicate completion
    /// is not counted. Retried once after a lost connection (a repeat is a duplicate).
    @discardableResult
    public func complete(
        queue: QueueName,
        lease: Lease,
        barrierID: Int64,
        memberKey: String,
        result: JSONPayload?,
        error: String? = nil,
        succeeded: Bool = true
    ) async throws -> MemberCompletion {
        let parameters: [(any PostgresEncodable)?] = [
            queue.rawValue, lease.messageID, lease.readCount, barrierID, memberKey, succeeded,
            result.map { PostgresJSON(text: $0.text) }, error.map(Queue.clip),
        ]
        let row = try await client.run(sql.completeMember, parameters, retry: .idempotent).single()
        return MemberCompletion(
            applied: try row.decode(0), counted: try row.decode(1), remaining: try row.decodeIfPresent(2),
            fired: try row.decode(3), callbackMessageID: try row.decodeIfPresent(4)
        )
    }

    /// A succeeded member held under a lease, for `completeSucceeded`.
    public struct SucceededMember: Sendable {
        public var lease: Lease
        public var barrierID: Int64
        public var key: String
        public var result: JSONPayload
        /// The trace context of the span that completed it (headers as the bootstrapped tracer
        /// injects them; empty without one), for its callback's span links.
        public var trace: [String: String]

        public init(lease: Lease, barrierID: Int64, key: String, result: JSONPayload, trace: [String: String] = [:]) {
            self.lease = lease
            self.barrierID = barrierID
            self.key = key
            self.result = result
            self.trace = trace
        }
    }

    /// Completes succeeded members of any barriers on `queue` in one statement and one commit:
    /// the fenced ack of their messages, their records, and one decrement per barrier (barrier
    /// rows locked in id order, so concurrent batches cannot deadlock). Each outcome is what
    /// `complete` would have said for that member: a lost lease records nothing, a duplicate
    /// is not counted, and the completion that brings a barrier to zero enqueues its callback
    /// once (reported on that barrier's last member in the batch). Retried once after a lost
    /// connection (a repeat is a duplicate).
    @discardableResult
    public func completeSucceeded(queue: QueueName, _ members: [SucceededMember]) async throws -> [MemberCompletion] {
        guard !members.isEmpty else { return [] }
        guard members.count <= 10_000 else { throw MusterError(.invalidArgument, "a batch holds at most 10000 members") }
        await recordTraces(members)
        let parameters: [(any PostgresEncodable)?] = [
            queue.rawValue, members.map(\.lease.messageID), members.map(\.lease.readCount), members.map(\.barrierID),
            members.map(\.key), members.map { PostgresJSON(text: $0.result.text) },
        ]
        let rows = try await client.run(sql.completeMembers, parameters, retry: .idempotent).rows
        guard rows.count == members.count else { throw MusterError(.database, "complete_members returned \(rows.count) rows for \(members.count) members") }
        return try rows.map { row in
            MemberCompletion(
                applied: try row.decode(1), counted: try row.decode(2), remaining: try row.decodeIfPresent(3),
                fired: try row.decode(4), callbackMessageID: try row.decodeIfPresent(5)
            )
        }
    }

    /// Records that the barrier's callback completed (once) and acks the callback message
    /// (fenced), in one statement. Returns whether this call finalized it and whether the ack
    /// applied. The finalization stands even when the lease was lost, so whoever holds the
    /// message next skips the side effects. With `transaction`, it happens only if the caller
    /// commits, and the barrier row stays locked until then: work done after a `finalized`
    /// answer in the same transaction happens once.
    @discardableResult
    public func finalize(
        queue: QueueName, lease: Lease, barrierID: Int64, in transaction: Transaction? = nil
    ) async throws -> (finalized: Bool, acked: Bool) {
        let row = try await client.run(
            sql.finalizeBarrier, [queue.rawValue, lease.messageID, lease.readCount, barrierID], in: transaction, retry: .idempotent
        ).single()
        return (try row.decode(0), try row.decode(1))
    }

    /// The barrier, or nil when there is none with this id.
    public func barrier(_ id: Int64) async throws -> Barrier? {
        try await client.run(sql.barrier, [id], retry: .idempotent).rows.first.map(Self.barrier(from:))
    }

    /// Records the trace contexts of the spans completing `members` (those that carry one),
    /// for their callbacks' span links: one statement for the batch, before the completion, so
    /// a callback enqueued by the completion finds them. Best effort: a failure leaves the
    /// callback's span without those links and is logged at debug.
    private func recordTraces(_ members: [SucceededMember]) async {
        let traced = members.filter { !$0.trace.isEmpty }
        guard !traced.isEmpty else { return }
        do {
            let traces = try traced.map { PostgresJSON(text: try JSONPayload(encoding: $0.trace).text) }
            _ = try await client.run(sql.recordMemberTraces, [traced.map(\.barrierID), traced.map(\.key), traces], retry: .idempotent)
        } catch {
            client.logger.debug("could not record the members' traces", metadata: ["error": "\(error)"])
        }
    }

    /// The recorded trace contexts of a barrier's members (at most `limit`, ordered by key).
    func memberTraces(of barrierID: Int64, limit: Int) async throws -> [[String: String]] {
        try await client.run(sql.memberTraces, [barrierID, limit], retry: .idempotent).rows.map { row in
            JSONPayload(trusted: try row.decode(0)).asHeaders
        }
    }

    /// Every member with its outcome, ordered by key, in one query: what the aggregating
    /// callback sees.
    public func members(of barrierID: Int64) async throws -> [BarrierMember] {
        try await client.run(sql.members, [barrierID], retry: .idempotent).rows.map { row in
            BarrierMember(
                key: try row.decode(0),
                status: BarrierMember.Status(text: try row.decode(1)),
                result: try row.decodeIfPresent(2, as: String.self).map(JSONPayload.init(trusted:)),
                error: try row.decodeIfPresent(3),
                completedAt: try row.decodeIfPresent(4)
            )
        }
    }

    /// Decodes a row in `OrchestrationSQL.barrierColumns` order.
    static func barrier(from row: PostgresRow) throws -> Barrier {
        Barrier(
            id: try row.decode(0),
            executionID: try row.decode(1),
            name: try row.decode(2),
            status: BarrierStatus(text: try row.decode(3)),
            onFailure: try row.decode(4, as: String.self) == FailurePolicy.failFast.rawValue ? .failFast : .waitForAll,
            expected: try row.decode(5),
            remaining: try row.decode(6),
            failed: try row.decode(7),
            callbackMessageID: try row.decodeIfPresent(8),
            deadline: try row.decodeIfPresent(9),
            createdAt: try row.decode(10),
            lastCompletedAt: try row.decodeIfPresent(11),
            firedAt: try row.decodeIfPresent(12),
            finalizedAt: try row.decodeIfPresent(13)
        )
    }
}

extension MusterClient {
    /// The barriers of this client's schema.
    public var barriers: Barriers { Barriers(client: self) }
}
