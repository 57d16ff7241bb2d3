import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// A primary with a synchronous streaming standby, reached through a libpq multi-host URL
/// (`target_session_attrs=read-write`): the primary crashes mid-run, the standby is promoted,
/// and the same worker processes carry on against it.
@Suite struct FailoverTests {
    @Test func workersFollowAPromotedStandbyAndLoseNothing() async throws {
        try await EmbeddedServer.with { primary in
            try await Standby.with(of: primary) { standby in
                let url = standby.failoverURL
                let database = try DatabaseConfiguration(url)
                try await Migrator(database: database).migrate()
                let client = MusterClient(database: database, options: .init(maxConnections: 2))
                defer { Task { await client.shutdown() } }
                // Short leases: a lease whose holder lost its connection at the crash is back in 5 s.
                try await client.createQueue("jobs", settings: QueueSettings(visibilityTimeout: .seconds(5)))
                try await Self.recordAcks(on: primary.url)

                let messages = 5_000
                for start in stride(from: 0, to: messages, by: 1_000) {
                    _ = try await client.queue("jobs").send((start..<start + 1_000).map { _ in
                        OutgoingMessage(payload: try! JSONPayload(json: #"{"action":"succeed"}"#), task: "test")
                    })
                }
                let pipeline = FaultToleranceTests.gated(queue: "jobs")
                var executions: [PipelineExecution<Int>] = []
                for _ in 0..<20 { executions.append(try await client.start(pipeline, input: 10)) }

                let workers = try (0..<4).map { _ in
                    try ChildProcess(["test-worker", "--database-url", url, "--queue", "jobs",
                                      "--record-table", "events", "--ungated-pipeline", "--concurrency", "4"])
                }
                let reaper = try ChildProcess(["reaper", "--database-url", url, "--lease", "5s", "--interval", "1s"])
                defer { (workers + [reaper]).forEach { $0.kill(SIGKILL) } }
                try await waitUntil("a fifth of the messages acked", timeout: .seconds(120)) {
                    try await Self.count("acks", where: "task = 'test'", on: url) >= messages / 5
                }
                try await standby.crashPrimary()
                try await standby.promote()
                // Work was left for after the failover.
                #expect(try await Self.count("acks", where: "task = 'test'", on: url) < messages)
                let promoted = try await Self.scalar("SELECT extract(epoch FROM now())::int8", on: url)

                try await waitUntil("every message and execution done on the promoted standby", timeout: .seconds(180)) {
                    let left = try await Self.count("messages", on: url)
                    let completed = try await Self.count("executions", where: "status = 'completed'", on: url)
                    return left == 0 && completed == 20
                }
                // Every message acked exactly once, on one of the two servers' shared history.
                #expect(try await Self.count("acks", where: "task = 'test'", on: url) == messages)
                #expect(try await Self.scalar("SELECT count(DISTINCT message_id) FROM muster.acks WHERE task = 'test'", on: url) == messages)
                // Each handled at least once (a handler whose ack died with the primary ran again).
                #expect(try await Self.count("acks", where: "task = 'test' AND NOT EXISTS (SELECT FROM muster.events AS e WHERE e.message_id = acks.message_id AND e.event = 'finished')", on: url) == 0)
                for execution in executions {
                    #expect(try await execution.result(timeout: .seconds(10)) == 45)
                }
                // One callback per barrier, fired and finalized once; nothing dead, nothing stuck.
                #expect(try await Self.count("barriers", where: "status = 'fired' AND finalized_at IS NOT NULL", on: url) == 20)
                #expect(try await Self.count("acks", where: "task LIKE 'gated/%/aggregate'", on: url) == 20)
                #expect(try await Self.count("dead_letters", on: url) == 0)
                // The same four processes did it all, and said where they went.
                for worker in workers {
                    #expect(kill(worker.pid, 0) == 0, "a worker exited: \(worker.output())")
                }
                #expect(workers.contains { $0.output().contains("connected to another database server") })
                // The same reaper leads on the promoted server (it renewed its lease there).
                try await waitUntil("the reaper to renew its lease on the promoted server") {
                    try await Self.count("leader_leases", where: "renewed_at > to_timestamp(\(promoted))", on: url) == 1
                }
                #expect(kill(reaper.pid, 0) == 0, "the reaper exited: \(reaper.output())")
            }
        }
    }

    /// A table of every message deleted from `messages` (acked, or a barrier's callback
    /// finalized), filled by a trigger in the deleting transaction: acks are counted by SQL.
    /// Also the test worker's `events` table.
    private static func recordAcks(on url: String) async throws {
        let connection = try await PostgresConnection.connect(to: ConnectionString(url))
        defer { Task { await connection.close() } }
        _ = try await connection.simpleQuery("""
            SET search_path TO muster;
            CREATE TABLE events (message_id bigint, read_ct int, pid int, event text, at timestamptz DEFAULT clock_timestamp());
            CREATE TABLE acks (message_id bigint, task text);
            CREATE FUNCTION record_ack() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO muster.acks SELECT id, task FROM gone;
                RETURN NULL;
            END $$;
            CREATE TRIGGER record_ack AFTER DELETE ON messages REFERENCING OLD TABLE AS gone
                FOR EACH STATEMENT EXECUTE FUNCTION record_ack();
            """)
    }

    /// `SELECT count(*) FROM muster.<table> WHERE <condition>` on whichever server is primary.
    private static func count(_ table: String, where condition: String = "true", on url: String) async throws -> Int {
        try await scalar("SELECT count(*) FROM muster.\(table) WHERE \(condition)", on: url)
    }

    static func scalar(_ sql: String, on url: String) async throws -> Int {
        let connection = try await PostgresConnection.connect(to: ConnectionString(url))
        defer { Task { await connection.close() } }
        return try await connection.query(sql).single().decode(0)
    }
}

extension FailoverTests {
    /// `--read-url` sends the inspection commands to the standby: they succeed there (a write
    /// would fail on a read-only server) while `--database-url` names a server that does not
    /// exist, so nothing of theirs can reach the primary; the standby's table statistics
    /// count their scans. (Comparing the primary's statistics raced its own pending flushes.)
    @Test func inspectionCommandsWithAReadURLQueryOnlyTheStandby() async throws {
        try await EmbeddedServer.with { primary in
            try await Standby.with(of: primary) { standby in
                let database = try DatabaseConfiguration(primary.url)
                try await Migrator(database: database).migrate()
                let client = MusterClient(database: database, options: .init(maxConnections: 2))
                defer { Task { await client.shutdown() } }
                try await client.createQueue("jobs")
                _ = try await client.queue("jobs").send(OutgoingMessage(payload: .emptyObject, task: "test"))
                let execution = try await client.start(FaultToleranceTests.gated(queue: "jobs"), input: 3)
                // Synchronous replication waits for the standby's flush, not its replay.
                try await waitUntil("the standby to replay the execution") {
                    try await Self.scalar("SELECT count(*) FROM muster.executions", on: standby.url) == 1
                }
                let standbyScans = try await Self.scans(on: standby.url)
                let nowhere = "postgresql://postgres@127.0.0.1:1/postgres"     // nothing listens on port 1

                let commands: [[String]] = [
                    ["status"], ["workers"], ["executions", "list"], ["execution", "show", execution.id.uuidString],
                    ["dead-letters", "list", "jobs"], ["queue", "list"], ["queue", "show", "jobs"],
                ]
                for command in commands {
                    let result = try await ChildProcess.run(command + ["--database-url", nowhere, "--read-url", standby.url])
                    #expect(result.status == 0, "\(command): \(result.output)")
                }
                // A backend flushes its statistics when it exits: the commands' have.
                try await waitUntil("the standby's statistics to count the commands' scans") {
                    try await Self.scans(on: standby.url) > standbyScans
                }
                // And without --read-url the same command goes to --database-url.
                #expect(try await ChildProcess.run(["status", "--database-url", nowhere]).status == 1)

                // A connection that meets a read-only server on a write is dropped, not reused
                // (the pool's next connection finds the read-write host of a multi-host URL).
                let onStandby = try await PostgresConnection.connect(to: ConnectionString(standby.url))
                defer { Task { await onStandby.close() } }
                let refused = await #expect(throws: PostgresError.self) {
                    try await onStandby.query("CREATE TABLE muster.written_on_a_standby (id int)")
                }
                #expect(refused?.sqlState == "25006")
                #expect(onStandby.isBroken)
            }
        }
    }

    /// Sequential and index scans of Muster's tables on the server at `url`.
    private static func scans(on url: String) async throws -> Int {
        try await scalar("""
            SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)::int8 FROM pg_stat_user_tables WHERE schemaname = 'muster'
            """, on: url)
    }
}
