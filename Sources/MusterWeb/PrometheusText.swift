public import Muster

/// Renders database-side metrics in the Prometheus text exposition format (version 0.0.4):
/// one `# HELP` and `# TYPE` per family, `muster_` before every name, label values escaped.
public enum PrometheusText {
    /// The families `metrics_snapshot` returns, with their help text (docs/operations.md
    /// ## Monitoring documents the same).
    public static let families: [(name: String, help: String)] = [
        ("queue_ready", "Messages visible now (including delayed ones that are due), per queue."),
        ("queue_delayed", "Messages waiting for a delay or retry backoff, per queue."),
        ("queue_leased", "Messages held by a worker under a running lease, per queue."),
        ("queue_expired_leases", "Messages whose lease ran out (holder probably dead), per queue; the next read takes them."),
        ("queue_dead", "Dead letters, per queue."),
        ("queue_oldest_ready_age_seconds", "How long the oldest ready message has waited, per queue (0 when none)."),
        ("queue_paused", "1 when the queue is paused (accepts sends, hands out nothing)."),
        ("executions", "Executions by status."),
        ("barriers_open", "Armed barriers: fan-outs waiting for members."),
        ("barriers_oldest_open_age_seconds", "Age of the oldest armed barrier (0 when none)."),
        ("workers_alive", "Worker processes whose heartbeat is recent."),
        ("reaper_leader", "1 while a reaper holds an unexpired leader lease."),
        ("xmin_horizon_age", "Transactions since the oldest snapshot still held (horizon_holders): vacuum removes nothing that died after it."),
    ]

    /// The exposition text for `metrics`, followed by `muster_up` (1: the snapshot was read),
    /// `muster_scrape_duration_seconds` and `muster_counts_estimated` (how many values are
    /// planner estimates because a count reached its cap).
    public static func render(_ metrics: [DatabaseMetric]?, scrapeSeconds: Double) -> String {
        var text = ""
        let byName = Dictionary(grouping: metrics ?? [], by: \.name)
        // The documented families in their order, then any the schema returns that this binary
        // does not know (a newer migration), so a scrape never drops one.
        let known = Set(families.map(\.name))
        let others = byName.keys.filter { !known.contains($0) }.sorted().map { (name: $0, help: "Muster database metric \($0).") }
        for family in families + others {
            guard let samples = byName[family.name] else { continue }
            text += "# HELP muster_\(family.name) \(family.help)\n# TYPE muster_\(family.name) gauge\n"
            for sample in samples {
                text += "muster_\(family.name)\(labels(sample.labels)) \(number(sample.value))\n"
            }
        }
        text += "# HELP muster_up 1 when the database answered the scrape.\n# TYPE muster_up gauge\n"
        text += "muster_up \(metrics == nil ? 0 : 1)\n"
        text += "# HELP muster_scrape_duration_seconds How long reading the snapshot took.\n# TYPE muster_scrape_duration_seconds gauge\n"
        text += "muster_scrape_duration_seconds \(number(scrapeSeconds))\n"
        text += "# HELP muster_counts_estimated Values that reached the count cap and are planner estimates.\n# TYPE muster_counts_estimated gauge\n"
        text += "muster_counts_estimated \((metrics ?? []).filter(\.estimated).count)\n"
        return text
    }

    static func labels(_ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
    }

    /// Escapes a label value: backslash, double quote and line feed.
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
