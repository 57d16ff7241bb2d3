import Foundation
import Muster

/// JSON shapes of the inspection commands: the library's types, with payloads (execution
/// output and input summary) embedded exactly as JSON (`RawJSON`) rather than as strings,
/// and absent values as `null`.
enum InspectionJSON {
    struct ExecutionJSON: Encodable {
        /// Lowercase, as PostgreSQL prints it.
        var id: String
        var pipeline: String
        var status: String
        @NullWhenAbsent var stage: String?
        @NullWhenAbsent var idempotencyKey: String?
        @NullWhenAbsent var inputSummary: RawJSON?
        @NullWhenAbsent var output: RawJSON?
        @NullWhenAbsent var error: String?
        @NullWhenAbsent var deadline: Date?
        var createdAt: Date
        var updatedAt: Date
        @NullWhenAbsent var finishedAt: Date?

        init(_ execution: Execution) {
            id = execution.id.uuidString.lowercased()
            pipeline = execution.pipeline
            status = execution.status.rawValue
            stage = execution.stage
            idempotencyKey = execution.idempotencyKey
            inputSummary = execution.inputSummary.map { RawJSON(text: $0.text) }
            output = execution.output.map { RawJSON(text: $0.text) }
            error = execution.error
            deadline = execution.deadline
            createdAt = execution.createdAt
            updatedAt = execution.updatedAt
            finishedAt = execution.finishedAt
        }
    }

    struct BarrierJSON: Encodable {
        var id: Int64
        var name: String
        var status: String
        var onFailure: String
        var expected: Int
        var remaining: Int
        var failed: Int
        @NullWhenAbsent var callbackMessageID: Int64?
        @NullWhenAbsent var deadline: Date?
        var createdAt: Date
        @NullWhenAbsent var lastCompletedAt: Date?
        @NullWhenAbsent var firedAt: Date?
        @NullWhenAbsent var finalizedAt: Date?

        init(_ barrier: Barrier) {
            id = barrier.id
            name = barrier.name
            status = barrier.status.rawValue
            onFailure = barrier.onFailure.rawValue
            expected = barrier.expected
            remaining = barrier.remaining
            failed = barrier.failed
            callbackMessageID = barrier.callbackMessageID
            deadline = barrier.deadline
            createdAt = barrier.createdAt
            lastCompletedAt = barrier.lastCompletedAt
            firedAt = barrier.firedAt
            finalizedAt = barrier.finalizedAt
        }
    }

    struct DeadLetterJSON: Encodable {
        var id: Int64
        var queue: String
        @NullWhenAbsent var task: String?
        var readCount: Int32
        var errorCount: Int32
        @NullWhenAbsent var lastError: String?
        var reason: String
        var deadAt: Date

        init(_ letter: DeadLetter) {
            id = letter.id
            queue = letter.queue
            task = letter.task
            readCount = letter.readCount
            errorCount = letter.errorCount
            lastError = letter.lastError
            reason = letter.reason
            deadAt = letter.deadAt
        }
    }

    struct ReportJSON: Encodable {
        var execution: ExecutionJSON
        @NullWhenAbsent var reason: String?
        var barriers: [BarrierJSON]
        var pendingMembers: [NullPreserving<PendingMember>]
        var inFlight: [NullPreserving<InFlightMessage>]
        var deadLetters: [DeadLetterJSON]
        var timeline: [NullPreserving<TimelineEvent>]

        init(_ report: ExecutionReport) {
            execution = ExecutionJSON(report.execution)
            reason = report.reason
            barriers = report.barriers.map(BarrierJSON.init)
            pendingMembers = report.pendingMembers.map(NullPreserving.init)
            inFlight = report.inFlight.map(NullPreserving.init)
            deadLetters = report.deadLetters.map(DeadLetterJSON.init)
            timeline = report.timeline.map(NullPreserving.init)
        }
    }

    struct StatusJSON: Encodable {
        var queues: [QueueMetrics]
        var workers: [NullPreserving<WorkerInfo>]
        var executions: [String: Int]
        var open: [ExecutionJSON]
        var stuck: Int
        @NullWhenAbsent var reaperLeader: NullPreserving<ReaperLeader>?

        init(_ status: SystemStatus) {
            queues = status.queues
            workers = status.workers.map(NullPreserving.init)
            executions = status.executions
            open = status.open.map(ExecutionJSON.init)
            stuck = status.stuck
            reaperLeader = status.reaperLeader.map(NullPreserving.init)
        }
    }
}

/// Short human forms for tables.
enum Human {
    /// `850ms`, `12s`, `4m03s`, `2h05m`, `3d4h`.
    static func age(seconds: Double?) -> String {
        guard let seconds else { return "-" }
        if seconds < 1 { return "\(Int(seconds * 1000))ms" }
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86_400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        return "\(s / 86_400)d\((s % 86_400) / 3600)h"
    }

    static func age(since date: Date?, now: Date = Date()) -> String {
        age(seconds: date.map { now.timeIntervalSince($0) })
    }

    /// `2026-11-25 01:02:03` in UTC.
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        return formatter.string(from: date)
    }
}
