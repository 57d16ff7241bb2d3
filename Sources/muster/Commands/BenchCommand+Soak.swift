import Foundation
import Muster
internal import MusterPostgres
import Synchronization

extension BenchCommand {
    /// The soak (issue 19, run by scripts/bench/soak.sh): producers send at `--rate` messages
    /// per second, in one batch every 100 ms, for `--seconds`, while a no-op worker
    /// (`--concurrency`) drains the queue. From a third of the run to two thirds (unless
    /// `--without-snapshot`, the script's calibration run) a separate
    /// session holds a `REPEATABLE READ` snapshot, as a report or `pg_dump` would: it reads one
    /// row of `public.soak_report` and stays idle in transaction. Every `--sample-seconds` it
    /// prints one CSV line (the header first): the interval's jobs/s and pickup latency (send
    /// to handler start, p50/p99), the oldest xmin age, entries read per scan of
    /// `messages_ready` and of `messages_pending`, HOT updates of `messages`, and the size and
    /// dead tuples of the tables and indexes that churn. A `Reaper` runs beside the worker, as
    /// in every worker process.
    func soak() async throws {
        let target = try ConnectionString(DatabaseOptions.resolvedURL(explicit: database.databaseURL) ?? "")
        let schema = try database.schemaName()
        let client = try database.client(maxConnections: concurrency + 4, applicationName: "muster-bench-soak")
        let queue = client.queue(queue)
        let samples = LatencySamples()
        let handled = JobCounter()
        var worker = Worker(client: client, queue: queue.name, options: WorkerOptions(concurrency: concurrency))
        worker.register(task: "stamp", as: Stamp.self) { stamp, _ in
            samples.add(Date().timeIntervalSince1970 - stamp.sentAt)
            handled.count.add(1, ordering: .relaxed)
        }
        let consumer = worker
        let statistics = try await PostgresConnection.connect(to: target, applicationName: "muster-bench-soak-stats")
        let holder = try await PostgresConnection.connect(to: target, applicationName: "muster-bench-soak-snapshot")
        let started = ContinuousClock.now
        let total = Duration.milliseconds(Int64(seconds * 1000))
        let perTick = rate / 10
        FileHandle.standardOutput.write(Data((SoakSample.header + "\n").utf8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            // The reaper, as every worker process runs one: it also rebuilds the hot indexes a
            // held snapshot left large, once the snapshot is gone.
            group.addTask { try await Reaper(client: client).run() }
            // Producer: batch k is due at start + k × 100 ms; a late batch is sent at once
            // (the schedule, not the previous send, sets the pace).
            group.addTask {
                var owed = 0.0
                var tick = 1
                while ContinuousClock.now - started < total {
                    try await Task.sleep(until: started + .milliseconds(100 * tick), clock: .continuous)
                    tick += 1
                    owed += perTick
                    let count = Int(owed)
                    owed -= Double(count)
                    guard count > 0 else { continue }
                    let payload = try JSONPayload(encoding: Stamp(sentAt: Date().timeIntervalSince1970))
                    try await queue.send(Array(repeating: OutgoingMessage(payload: payload, task: "stamp"), count: count))
                }
            }
            // The held snapshot: BEGIN REPEATABLE READ, read a row, idle, COMMIT.
            if !withoutSnapshot { group.addTask {
                try await Task.sleep(until: started + total / 3, clock: .continuous)
                _ = try await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
                _ = try await holder.query("SELECT * FROM public.soak_report LIMIT 1")
                try await Task.sleep(until: started + total * 2 / 3, clock: .continuous)
                _ = try await holder.query("COMMIT")
            } }
            // Sampler, in this task: one line per interval; the run ends with its last one.
            var previous = try await SoakSample.counters(on: statistics, schema: schema)
            var previousHandled = 0
            var elapsed = Duration.zero
            let interval = Duration.milliseconds(Int64(sampleSeconds * 1000))
            while elapsed < total {
                elapsed += interval
                try await Task.sleep(until: started + elapsed, clock: .continuous)
                let counters = try await SoakSample.counters(on: statistics, schema: schema)
                let done = handled.count.load(ordering: .relaxed)
                let (p50, p99) = samples.takePercentiles()
                let phase = elapsed <= total / 3 ? "before" : elapsed <= total * 2 / 3 ? "held" : "after"
                let line = SoakSample.line(
                    seconds: Self.seconds(elapsed), phase: phase, jobsPerSecond: Double(done - previousHandled) / sampleSeconds,
                    pickup: (p50 * 1000, p99 * 1000), counters: counters, previous: previous
                )
                // Written at once: scripts read the lines as they come.
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
                previous = counters
                previousHandled = done
            }
            group.cancelAll()
        }
        await statistics.close()
        await holder.close()
        await client.shutdown()
    }
}

/// One line of the soak's CSV: the database counters it samples and how a line is written.
enum SoakSample {
    static let relations = [
        "messages", "messages_pkey", "messages_ready", "messages_pending", "messages_execution",
        "message_keys", "message_keys_pkey", "message_keys_expiry",
    ]

    static let header = "seconds,phase,jobs_per_s,pickup_p50_ms,pickup_p99_ms,xmin_age,ready_entries_per_scan,pending_entries_per_scan,hot_update_pct,"
        + relations.map { "\($0)_bytes" }.joined(separator: ",") + ",messages_dead,message_keys_dead"

    struct Counters {
        var xminAge: Int
        var readyScans: Int
        var readyEntries: Int
        var pendingScans: Int
        var pendingEntries: Int
        var updates: Int
        var hotUpdates: Int
        var bytes: [String: Int]
        var dead: [String: Int]
    }

    /// The counters at this instant: cumulative statistics (scans, entries read, updates) and
    /// current sizes.
    static func counters(on connection: PostgresConnection, schema: SchemaName) async throws -> Counters {
        let row = try await connection.query("""
            SELECT
                (SELECT coalesce(max(age(backend_xmin)), 0)::int FROM pg_stat_activity WHERE backend_xmin IS NOT NULL),
                coalesce((SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1 AND indexrelname = 'messages_ready'), 0)::bigint,
                coalesce((SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = $1 AND indexrelname = 'messages_ready'), 0)::bigint,
                coalesce((SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1 AND indexrelname = 'messages_pending'), 0)::bigint,
                coalesce((SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = $1 AND indexrelname = 'messages_pending'), 0)::bigint,
                coalesce((SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'messages'), 0)::bigint,
                coalesce((SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'messages'), 0)::bigint,
                (SELECT coalesce(json_object_agg(c.relname, pg_relation_size(c.oid)), '{}')
                 FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = ANY ($2::text[]))::text,
                (SELECT coalesce(json_object_agg(relname, n_dead_tup), '{}') FROM pg_stat_user_tables
                 WHERE schemaname = $1 AND relname IN ('messages', 'message_keys'))::text
            """, [schema.name, relations]).single()
        func numbers(_ text: String) throws -> [String: Int] {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
            return object.compactMapValues { ($0 as? NSNumber)?.intValue }
        }
        return Counters(
            xminAge: try row.decode(0), readyScans: try row.decode(1), readyEntries: try row.decode(2),
            pendingScans: try row.decode(3), pendingEntries: try row.decode(4),
            updates: try row.decode(5), hotUpdates: try row.decode(6),
            bytes: try numbers(try row.decode(7)), dead: try numbers(try row.decode(8))
        )
    }

    static func line(seconds: Double, phase: String, jobsPerSecond: Double, pickup: (Double, Double), counters: Counters, previous: Counters) -> String {
        func perScan(_ entries: Int, _ previousEntries: Int, _ scans: Int, _ previousScans: Int) -> Double {
            scans > previousScans ? Double(entries - previousEntries) / Double(scans - previousScans) : 0
        }
        let entries = perScan(counters.readyEntries, previous.readyEntries, counters.readyScans, previous.readyScans)
        let pending = perScan(counters.pendingEntries, previous.pendingEntries, counters.pendingScans, previous.pendingScans)
        let updates = counters.updates - previous.updates
        let hot = updates > 0 ? 100 * Double(counters.hotUpdates - previous.hotUpdates) / Double(updates) : 0
        let fields = [
            String(format: "%.0f", seconds), phase, String(format: "%.1f", jobsPerSecond),
            String(format: "%.2f", pickup.0), String(format: "%.2f", pickup.1), String(counters.xminAge),
            String(format: "%.1f", entries), String(format: "%.1f", pending), String(format: "%.1f", hot),
        ] + relations.map { String(counters.bytes[$0] ?? 0) } + [String(counters.dead["messages"] ?? 0), String(counters.dead["message_keys"] ?? 0)]
        return fields.joined(separator: ",")
    }
}
