import Foundation
internal import MusterPostgres
import Synchronization

extension BenchCommand {
    /// The pickup latency floor (`../shared/limits/README.md`), in Swift on MusterPostgres as
    /// the worker is: one session commits `INSERT` + `pg_notify` per job (one statement, one
    /// commit) at `--rate` per second for `--seconds`; a listener session wakes on each
    /// notification and claims with `UPDATE … SKIP LOCKED LIMIT 1` on a third. Latency is from
    /// just before the INSERT to the claim's return, on the monotonic clock. Uses the plain
    /// table `q` of `scripts/bench/limits/limits-schema.sql`. Prints "p50 p99" in ms.
    func latencyFloor() async throws {
        let target = try ConnectionString(DatabaseOptions.resolvedURL(explicit: database.databaseURL) ?? "")
        let sender = try await PostgresConnection.connect(to: target, applicationName: "muster-bench-floor")
        let claimer = try await PostgresConnection.connect(to: target, applicationName: "muster-bench-floor")
        let listener = PostgresListener(connectionString: target, applicationName: "muster-bench-floor")
        defer { listener.stop() }
        let channel = SQLIdentifier("muster_floor")!
        let notifications = listener.events()
        try await listener.listen(channel)
        _ = try await sender.query("TRUNCATE q")
        let count = Int(rate * seconds)
        let sentAt = SendTimes()
        let samples = LatencySamples()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var claimed = 0
                for await event in notifications where event != .reconnected {
                    let rows = try await claimer.query("""
                        UPDATE q SET vt = now() + interval '30 seconds', read_ct = read_ct + 1
                        WHERE id = (SELECT id FROM q WHERE vt <= now() ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
                        RETURNING (payload->>'i')::int
                        """)
                    let now = ContinuousClock.now
                    for row in rows.rows {
                        let i: Int = try row.decode(0)
                        if let start = sentAt.times.withLock({ $0[i] }) { samples.add(Self.seconds(now - start)) }
                        claimed += 1
                    }
                    if claimed == count { return }
                }
            }
            for i in 0..<count {
                sentAt.times.withLock { $0[i] = .now }
                _ = try await sender.query(
                    "WITH job AS (INSERT INTO q (payload) VALUES (jsonb_build_object('i', $1::int)) RETURNING id) SELECT pg_notify('muster_floor', '') FROM job",
                    [i]
                )
                try await Task.sleep(for: .milliseconds(Int64(1000 / rate)))
            }
            try await group.next()
        }
        let (p50, p99) = samples.percentiles()
        print(String(format: "%.2f %.2f", p50 * 1000, p99 * 1000))
    }
}

/// When each floor job was sent, by its number.
private final class SendTimes: Sendable {
    let times = Mutex<[Int: ContinuousClock.Instant]>([:])
}
