import Foundation
import Muster

/// The dashboard's pages, rendered from what was read: pure functions of their data, so the
/// escaping and layout are testable without a server. Every database text goes through
/// `HTML.escape` (via `HTML.code`, `HTML.link` or `text`).
enum DashboardPages {
    static func text(_ value: String?) -> String { HTML.escape(value ?? "–") }
    static func number(_ value: Double) -> String { value == value.rounded() ? String(Int64(value)) : String(format: "%.1f", value) }
    static func time(_ date: Date?) -> String {
        guard let date else { return "–" }
        return "<time datetime=\"\(date.ISO8601Format())\">\(HTML.escape(date.formatted(.iso8601)))</time>"
    }
    static func age(seconds: Double) -> String {
        switch seconds {
        case ..<1: String(format: "%.0f ms", seconds * 1000)
        case ..<120: String(format: "%.0f s", seconds)
        case ..<7200: String(format: "%.0f min", seconds / 60)
        default: String(format: "%.1f h", seconds / 3600)
        }
    }

    /// Values of one metric by its queue label.
    static func byQueue(_ metrics: [DatabaseMetric], _ name: String) -> [String: DatabaseMetric] {
        Dictionary(metrics.filter { $0.name == name }.map { ($0.labels["queue"] ?? "", $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func count(_ metric: DatabaseMetric?) -> String {
        guard let metric else { return "0" }
        return (metric.estimated ? "≈" : "") + number(metric.value)
    }

    static func queues(_ metrics: [DatabaseMetric], sends: [String: Int], allowActions: Bool) -> String {
        let names = byQueue(metrics, "queue_ready").keys.sorted()
        let columns = ["queue_ready", "queue_delayed", "queue_leased", "queue_expired_leases", "queue_dead"].map { byQueue(metrics, $0) }
        let oldest = byQueue(metrics, "queue_oldest_ready_age_seconds")
        let paused = byQueue(metrics, "queue_paused")
        let rows = names.map { name -> [String] in
            let isPaused = (paused[name]?.value ?? 0) > 0
            var cells = [HTML.link("/queues/\(HTML.urlComponent(name))", name)]
            cells += columns.map { count($0[name]) }
            cells.append(age(seconds: oldest[name]?.value ?? 0))
            cells.append(String(sends[name] ?? 0))
            cells.append(isPaused ? "paused" : "running")
            if allowActions {
                cells.append(HTML.action("/queues/\(HTML.urlComponent(name))/\(isPaused ? "resume" : "pause")", isPaused ? "Resume" : "Pause"))
            }
            return cells
        }
        func overall(_ name: String, _ label: String) -> String? {
            metrics.first { $0.name == name }.map { "<li>\(HTML.escape(label)): \(count($0))</li>" }
        }
        let executions = metrics.filter { $0.name == "executions" }
            .map { "<li>\(HTML.link("/executions?status=\($0.labels["status"] ?? "")", "executions \($0.labels["status"] ?? "")")): \(count($0))</li>" }
        let summary = [overall("barriers_open", "open barriers"), overall("workers_alive", "workers alive")].compactMap { $0 }
            + executions
            + [metrics.first { $0.name == "barriers_oldest_open_age_seconds" }.map { "<li>oldest open barrier: \(age(seconds: $0.value))</li>" }].compactMap { $0 }
            + [metrics.first { $0.name == "reaper_leader" }.map { "<li>reaper: \($0.value > 0 ? "leading" : "no leader")</li>" }].compactMap { $0 }
        var headers = ["queue", "ready", "delayed", "leased", "expired leases", "dead", "oldest ready", "sent/min", "state"]
        if allowActions { headers.append("") }
        return HTML.table(headers, rows, empty: "no queues yet (muster queue create NAME)")
            + "<h2>System</h2><ul id=\"system\">\(summary.joined())</ul>"
            + "<p class=\"empty\">≈: the count reached \(DatabaseMetric.defaultCountCap) and is the planner's estimate.</p>"
    }

    static func queue(_ name: String, metrics: [DatabaseMetric], settings: QueueSettings, deadLetters: [DeadLetter], allowActions: Bool) -> String {
        let mine = metrics.filter { $0.labels["queue"] == name }
        let rows = mine.filter { $0.name != "queue_paused" }.map { metric -> [String] in
            let label = metric.name.replacingOccurrences(of: "queue_", with: "").replacingOccurrences(of: "_", with: " ")
            let value = metric.name.hasSuffix("_seconds") ? age(seconds: metric.value) : count(metric)
            return [HTML.escape(label), value]
        }
        let settingsRows: [[String]] = [
            ["paused", settings.paused ? "yes" : "no"], ["visibility timeout", "\(settings.visibilityTimeout)"],
            ["max attempts", "\(settings.maxAttempts)"], ["retention", "\(settings.retention)"],
            ["dedup window", "\(settings.dedupWindow)"], ["archive on ack", settings.archiveOnAck ? "yes" : "no"],
        ].map { [HTML.escape($0[0]), HTML.escape($0[1])] }
        var actions = ""
        if allowActions {
            let path = "/queues/\(HTML.urlComponent(name))"
            actions = "<p>" + HTML.action("\(path)/\(settings.paused ? "resume" : "pause")", settings.paused ? "Resume" : "Pause")
                + HTML.action("\(path)/purge-dead-letters", "Purge all dead letters", confirm: "Delete every dead letter of \(name)?") + "</p>"
        }
        return actions + HTML.table(["", "messages"], rows) + "<h2>Settings</h2>" + HTML.table(["setting", "value"], settingsRows)
            + "<h2>Recent dead letters</h2>" + deadLetterTable(deadLetters, allowActions: allowActions)
    }

    static func deadLetterTable(_ letters: [DeadLetter], allowActions: Bool) -> String {
        let rows = letters.map { letter -> [String] in
            var cells = [
                String(letter.id), HTML.link("/queues/\(HTML.urlComponent(letter.queue))", letter.queue), text(letter.task),
                text(letter.reason), HTML.code(letter.lastError ?? ""), HTML.code(letter.payload.text),
                letter.executionID.map { HTML.link("/executions/\($0.uuidString.lowercased())", String($0.uuidString.lowercased().prefix(8))) } ?? "–",
                time(letter.deadAt),
            ]
            if allowActions {
                cells.append(HTML.action("/dead-letters/requeue", "Requeue", fields: ["queue": letter.queue, "id": String(letter.id)]))
            }
            return cells
        }
        var headers = ["id", "queue", "task", "reason", "last error", "payload", "execution", "dead at"]
        if allowActions { headers.append("") }
        return HTML.table(headers, rows, empty: "no dead letters")
    }

    static func deadLetters(_ letters: [DeadLetter], queue: String?, queues: [String], allowActions: Bool) -> String {
        let options = ([""] + queues).map { name in
            "<option value=\"\(HTML.escape(name))\"\(name == (queue ?? "") ? " selected" : "")>\(name.isEmpty ? "every queue" : HTML.escape(name))</option>"
        }.joined()
        return "<form method=\"get\" action=\"/dead-letters\"><select name=\"queue\">\(options)</select> <button type=\"submit\">Show</button></form>"
            + deadLetterTable(letters, allowActions: allowActions)
    }

    static func executionRow(_ execution: Execution) -> [String] {
        let id = execution.id.uuidString.lowercased()
        return [
            HTML.link("/executions/\(id)", id), HTML.escape(execution.pipeline), text(execution.stage),
            HTML.escape(execution.status.rawValue), time(execution.createdAt), time(execution.finishedAt), text(execution.error),
        ]
    }

    static func executions(_ page: ExecutionPage, status: ExecutionStatus?, pipeline: String?) -> String {
        let statuses = ([""] + ExecutionStatus.all.map(\.rawValue)).map { value in
            "<option value=\"\(value)\"\(value == (status?.rawValue ?? "") ? " selected" : "")>\(value.isEmpty ? "any status" : value)</option>"
        }.joined()
        let filter = """
            <form method="get" action="/executions"><select name="status">\(statuses)</select>
            <input name="pipeline" placeholder="pipeline" value="\(HTML.escape(pipeline ?? ""))"> <button type="submit">Filter</button></form>
            """
        var next = ""
        if let cursor = page.next {
            var query = ["after=\(cursor.token)"]
            if let status { query.append("status=\(status.rawValue)") }
            if let pipeline { query.append("pipeline=\(HTML.urlComponent(pipeline))") }
            next = "<p>" + HTML.link("/executions?" + query.joined(separator: "&"), "Older →") + "</p>"
        }
        return filter + HTML.table(["id", "pipeline", "stage", "status", "created", "finished", "error"], page.executions.map(executionRow), empty: "no executions")
            + next
    }

    static func execution(_ report: ExecutionReport, allowActions: Bool) -> String {
        let e = report.execution
        let id = e.id.uuidString.lowercased()
        var facts: [[String]] = [
            ["pipeline", HTML.escape(e.pipeline)], ["status", HTML.escape(e.status.rawValue)], ["stage", text(e.stage)],
            ["created", time(e.createdAt)], ["finished", time(e.finishedAt)], ["deadline", time(e.deadline)],
            ["input", HTML.code(e.inputSummary?.text ?? "")], ["output", HTML.code(e.output?.text ?? "")],
            ["error", HTML.code(e.error ?? "")],
        ]
        if let reason = report.reason { facts.append(["why not finished", HTML.escape(reason)]) }
        let barriers = report.barriers.map { b -> [String] in
            let done = b.expected - b.remaining
            return [
                HTML.escape(b.name), HTML.escape(b.status.rawValue),
                "<progress max=\"\(max(b.expected, 1))\" value=\"\(done)\"></progress> \(done)/\(b.expected)",
                String(b.failed), time(b.createdAt), time(b.firedAt), time(b.finalizedAt),
            ]
        }
        let pending = report.pendingMembers.map {
            [HTML.escape($0.barrier), HTML.escape($0.key), $0.messageID.map(String.init) ?? "–", text($0.messageState),
             $0.readCount.map(String.init) ?? "–", text($0.leasedBy), HTML.code($0.lastError ?? "")]
        }
        let inFlight = report.inFlight.map {
            [String($0.id), HTML.escape($0.queue), text($0.task), String($0.readCount), text($0.leasedBy), age(seconds: $0.heldSeconds), $0.expired ? "expired" : "running"]
        }
        let timeline = report.timeline.map { [time($0.at), HTML.escape($0.event), HTML.code($0.detail ?? "")] }
        let cancel = allowActions && !e.status.isTerminal
            ? "<p>" + HTML.action("/executions/\(id)/cancel", "Cancel execution", confirm: "Cancel execution \(id)?") + "</p>" : ""
        return cancel + HTML.table(["", ""], facts)
            + "<h2>Stages</h2>" + HTML.table(["barrier", "status", "members done", "failed", "armed", "fired", "finalized"], barriers, empty: "no stages yet")
            + "<h2>Members still pending</h2>" + HTML.table(["barrier", "member", "message", "state", "reads", "leased by", "last error"], pending)
            + "<h2>In flight</h2>" + HTML.table(["message", "queue", "task", "reads", "leased by", "held", "lease"], inFlight)
            + "<h2>Dead letters</h2>" + deadLetterTable(report.deadLetters, allowActions: allowActions)
            + "<h2>Timeline</h2>" + HTML.table(["at", "event", "detail"], timeline)
    }

    static func workers(_ workers: [WorkerInfo], leaseCountsCapped: Bool) -> String {
        let note = leaseCountsCapped
            ? "<p class=\"notice\">More than \(DatabaseMetric.defaultCountCap) leases are held: lease counts are from the first \(DatabaseMetric.defaultCountCap) (lower bounds).</p>"
            : ""
        return note + HTML.table(
            ["worker", "host", "pid", "queues", "alive", "in flight", "leases held", "leases expired", "last heartbeat", "started"],
            workers.map {
                [HTML.escape($0.id), HTML.escape($0.host), String($0.pid), HTML.escape($0.queues.joined(separator: ", ")),
                 $0.alive ? "alive" : "gone", String($0.inFlight), String($0.leasesHeld), String($0.leasesExpired),
                 age(seconds: $0.lastHeartbeatSeconds) + " ago", time($0.startedAt)]
            },
            empty: "no workers have run"
        )
    }

    static func reaper(_ leader: ReaperLeader?) -> String {
        guard let leader else { return "<p class=\"empty\">No reaper has run against this schema (muster reaper).</p>" }
        return HTML.table(["", ""], [
            ["leader", HTML.escape(leader.holder)], ["state", leader.active ? "leading" : "lease expired: no reaper running"],
            ["fencing token", String(leader.token)], ["leader since", time(leader.acquiredAt)],
            ["last renewal", time(leader.renewedAt)], ["lease expires", time(leader.expiresAt)],
        ])
    }
}
