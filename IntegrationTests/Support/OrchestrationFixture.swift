import Foundation
import Muster
@testable import MusterPostgres

/// A migrated schema with a `jobs` queue for members and a `callbacks` queue, plus helpers
/// to create executions and fan out.
struct OrchestrationFixture {
    let queueFixture: QueueFixture
    var schema: SchemaName { queueFixture.schema }
    var client: MusterClient { queueFixture.client }
    var members: Queue { queueFixture.queue }
    var callbacks: Queue { client.queue("callbacks") }
    var time: TimeTravel { queueFixture.time }

    static func with<T>(
        settings: QueueSettings = QueueSettings(),
        options: MusterClient.Options = MusterClient.Options(),
        _ body: (OrchestrationFixture) async throws -> T
    ) async throws -> T {
        try await QueueFixture.with(settings: settings, options: options) { queueFixture in
            try await queueFixture.client.createQueue("callbacks", settings: settings)
            return try await body(OrchestrationFixture(queueFixture: queueFixture))
        }
    }

    func newExecution() async throws -> UUID {
        try await client.executions.create(pipeline: "test").id
    }

    /// Fans out `count` members (keys m00000…, payload `{"n": i}`) on a new execution.
    func fanOut(
        _ count: Int,
        execution: UUID? = nil,
        name: String = "stage1",
        task: String = "member",
        onFailure: FailurePolicy = .waitForAll,
        deadline: Date? = nil,
        payload: (Int) -> String = { #"{"n":\#($0)}"# }
    ) async throws -> (execution: UUID, barrier: Int64) {
        let execution = try await { if let execution { return execution } else { return try await newExecution() } }()
        let members = try (0..<count).map { FanOut.Member(key: String(format: "m%05d", $0), payload: try JSONPayload(json: payload($0))) }
        let result = try await client.barriers.fanOut(FanOut(
            executionID: execution, name: name, memberQueue: self.members.name,
            memberTask: task, members: members, callbackQueue: callbacks.name, callbackTask: "aggregate",
            onFailure: onFailure, deadline: deadline
        ))
        return (execution, result.barrierID)
    }

    func count(_ table: String, where condition: String = "true") async throws -> Int {
        try await queueFixture.count(table, where: condition)
    }

    /// Callback messages waiting in the callbacks queue (ready or leased).
    func callbackMessages() async throws -> Int {
        try await count("messages", where: "queue = 'callbacks'")
    }

    func barrier(_ id: Int64) async throws -> Barrier {
        try require(try await client.barriers.barrier(id))
    }
}

/// A fixture lookup found nothing.
private struct Missing: Error {}

private func require<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}
