import Foundation
import Muster
import MusterWeb
import Testing
@testable import MusterPostgres

/// `muster metrics` and `muster dashboard` as real processes on a seeded schema: every
/// metric family against a plain SQL count, every dashboard page rendered by a real headless
/// browser, and the actions' token.
@Suite struct MonitoringTests {
    /// Seeds `jobs` and a paused `other` with messages in every state and dead letters, and
    /// executions in three statuses.
    func seed(_ fixture: QueueFixture) async throws {
        let jobs = fixture.queue
        try await fixture.client.createQueue("other", settings: QueueSettings(paused: true))
        for n in 0..<6 { try await jobs.send(QueueFixture.payload(n)) }
        for n in 0..<2 { try await fixture.client.queue("other").send(QueueFixture.payload(n)) }
        for n in 0..<3 { try await jobs.send(OutgoingMessage(payload: try JSONPayload(json: #"{"n":\#(n)}"#), delay: .seconds(3600))) }
        _ = try await jobs.read(limit: 2, visibilityTimeout: .seconds(600))
        let expiring = try await jobs.read(limit: 1, visibilityTimeout: .seconds(600))
        try await TestDatabase.query("UPDATE \(fixture.schema.quoted).messages SET visible_at = now() - interval '1 minute' WHERE id = $1", [expiring[0].id])
        try await TestDatabase.query("""
            INSERT INTO \(fixture.schema.quoted).dead_letters (id, queue, payload, task, priority, dedup_key, enqueued_at, read_ct, error_ct, last_error, reason)
            SELECT 900000 + n, 'jobs', jsonb_build_object('html', '<script>document.title=''pwned''</script>', 'n', n), 'test', 0,
                   'dead-' || n, now(), 5, 5, '<img src=x onerror=alert(1)> failed', 'max_attempts'
            FROM generate_series(1, 4) AS n
            """)
        let executions = fixture.client.executions
        let running = try await executions.create(pipeline: "ingest")
        try await executions.transition(running.id, to: .running)
        let canceled = try await executions.create(pipeline: "ingest")
        _ = try await executions.cancel(canceled.id)
        _ = try await executions.create(pipeline: "report")
    }

    /// name{labels} → value, from Prometheus text.
    func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func everyMetricFamilyMatchesASQLCountOfTheSeededSchema() async throws {
        try await QueueFixture.with { fixture in
            try await seed(fixture)
            let s = fixture.schema.quoted
            try await WebEndpoint.with(["metrics", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name]) { endpoint in
                let response = try await endpoint.request("/metrics")
                #expect(response.status == 200)
                #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
                for family in PrometheusText.families.map(\.name) {
                    #expect(response.body.contains("# TYPE muster_\(family) gauge\n"), "family \(family)")
                }
                let got = samples(response.body)
                func count(_ sql: String) async throws -> Double {
                    Double(try await TestDatabase.query(sql).single().decode(0, as: Int.self))
                }
                for queue in ["jobs", "other"] {
                    let q = "queue = '\(queue)'"
                    let expected: [(String, String)] = [
                        ("queue_ready", "SELECT count(*) FROM \(s).messages WHERE \(q) AND (state = 'ready' OR (state = 'delayed' AND visible_at <= now()))"),
                        ("queue_delayed", "SELECT count(*) FROM \(s).messages WHERE \(q) AND state = 'delayed' AND visible_at > now()"),
                        ("queue_leased", "SELECT count(*) FROM \(s).messages WHERE \(q) AND state = 'leased' AND visible_at > now()"),
                        ("queue_expired_leases", "SELECT count(*) FROM \(s).messages WHERE \(q) AND state = 'leased' AND visible_at <= now()"),
                        ("queue_dead", "SELECT count(*) FROM \(s).dead_letters WHERE \(q)"),
                        ("queue_paused", "SELECT paused::int FROM \(s).queues WHERE name = '\(queue)'"),
                    ]
                    for (family, sql) in expected {
                        #expect(got["muster_\(family){queue=\"\(queue)\"}"] == (try await count(sql)), "\(family) of \(queue)")
                    }
                }
                // The seed makes every figure non-trivial for jobs.
                #expect(got["muster_queue_ready{queue=\"jobs\"}"] == 3 && got["muster_queue_leased{queue=\"jobs\"}"] == 2)
                #expect(got["muster_queue_expired_leases{queue=\"jobs\"}"] == 1 && got["muster_queue_dead{queue=\"jobs\"}"] == 4)
                #expect(got["muster_queue_paused{queue=\"other\"}"] == 1)
                let oldest = try #require(got["muster_queue_oldest_ready_age_seconds{queue=\"jobs\"}"])
                let age = try await TestDatabase.query("""
                    SELECT extract(epoch FROM now() - min(visible_at))::float8 FROM \(s).messages WHERE queue = 'jobs' AND state = 'ready'
                    """).single().decode(0, as: Double.self)
                #expect(oldest > 0 && oldest <= age + 0.001)
                for status in ExecutionStatus.all {
                    #expect(got["muster_executions{status=\"\(status)\"}"] == (try await count("SELECT count(*) FROM \(s).executions WHERE status = '\(status)'")), "\(status)")
                }
                #expect(got["muster_executions{status=\"running\"}"] == 1 && got["muster_executions{status=\"canceled\"}"] == 1)
                #expect(got["muster_barriers_open"] == (try await count("SELECT count(*) FROM \(s).barriers WHERE status = 'armed'")))
                #expect(got["muster_workers_alive"] == (try await count("SELECT count(*) FROM \(s).worker_overview WHERE alive")))
                #expect(got["muster_reaper_leader"] == 0)
                #expect(got["muster_up"] == 1 && got["muster_counts_estimated"] == 0)
            }
            // The workers page's lease counts walk at most their cap (3 leased rows here).
            try await TestDatabase.query("SELECT \(s).worker_heartbeat($1, 'host', 1, ARRAY['jobs'], 4, 0)", [fixture.client.options.workerID])
            let full = try await fixture.client.workers(leaseCountCap: 100)
            #expect(!full.capped && full.workers.first?.leasesHeld == 2 && full.workers.first?.leasesExpired == 1)
            #expect(try await fixture.client.workers(leaseCountCap: 1).capped)
            let unbounded = try await fixture.client.workers()
            #expect(unbounded.map { [$0.id, "\($0.leasesHeld)", "\($0.leasesExpired)"] } == full.workers.map { [$0.id, "\($0.leasesHeld)", "\($0.leasesExpired)"] })
        }
    }

    /// A count that reaches the cap stops walking and becomes the planner's estimate (never
    /// below the cap), and the scrape says how many values are estimates.
    @Test func countsStopAtTheCapAndSayTheyAreEstimates() async throws {
        try await QueueFixture.with { fixture in
            try await seed(fixture)
            try await WebEndpoint.with(["metrics", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name, "--count-cap", "2"]) { endpoint in
                let got = samples(try await endpoint.request("/metrics").body)
                #expect((got["muster_queue_ready{queue=\"jobs\"}"] ?? 0) >= 2)
                #expect((got["muster_queue_dead{queue=\"jobs\"}"] ?? 0) >= 2)
                #expect((got["muster_counts_estimated"] ?? 0) >= 3)
                #expect(got["muster_queue_leased{queue=\"jobs\"}"] == 2)
            }
        }
    }

    @Test func everyDashboardPageRendersInARealBrowserAndPayloadsShowAsText() async throws {
        try await OrchestrationFixture.with { orchestration in
            let fixture = orchestration.queueFixture
            try await seed(fixture)
            let (execution, _) = try await orchestration.fanOut(3)
            try await TestDatabase.query("SELECT \(fixture.schema.quoted).worker_heartbeat('host:1:abc', 'host', 1, ARRAY['jobs'], 4, 0)")
            let arguments = ["dashboard", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name, "--token", "s3cret"]
            try await WebEndpoint.with(arguments) { endpoint in
                let pages: [(String, String)] = [
                    ("/", "Queues"), ("/queues/jobs", "Queue jobs"), ("/executions", "Executions"),
                    ("/executions?status=running", "Executions"), ("/executions/\(execution.uuidString.lowercased())", "Execution "),
                    ("/dead-letters", "Dead letters"), ("/dead-letters?queue=jobs", "Dead letters"), ("/workers", "Workers"), ("/reaper", "Reaper"),
                ]
                var doms: [String: String] = [:]
                for (path, title) in pages {
                    let dom = try await Browser.dom(endpoint.base + path)
                    #expect(dom.contains("<h1>\(title)"), "\(path): \(dom.prefix(600))")
                    #expect(dom.contains("<title>\(title)"), "\(path) title")
                    doms[path] = dom
                }
                #expect(doms["/"]?.contains(">jobs</a>") == true && doms["/"]?.contains("paused") == true)
                #expect(doms["/executions?status=running"]?.contains("ingest") == true)
                #expect(doms["/executions/\(execution.uuidString.lowercased())"]?.contains("stage1") == true)
                #expect(doms["/workers"]?.contains("host:1:abc") == true)
                // The payload's script and the error's image are text: the page's title is
                // still its own, and no element came from them.
                let letters = try #require(doms["/dead-letters"])
                #expect(letters.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"))
                #expect(letters.contains("&lt;img src=x onerror=alert(1)&gt; failed"))
                #expect(!letters.contains("<script>document.title") && !letters.contains("<img"))

                // Requeue the form the browser rendered, as a browser would post it.
                let form = try #require(letters.firstMatch(of: /<form method="post" action="\/dead-letters\/requeue"[^>]*><input type="hidden" name="id" value="(\d+)"><input type="hidden" name="queue" value="jobs">/))
                let id = try #require(Int64(form.1))
                let s = fixture.schema.quoted
                func deadLetters() async throws -> Int { try await fixture.count("dead_letters") }
                let refused = try await endpoint.request("/dead-letters/requeue", method: "POST", form: ["queue": "jobs", "id": "\(id)"])
                #expect(refused.status == 403)
                let wrong = try await endpoint.request("/dead-letters/requeue", method: "POST", form: ["queue": "jobs", "id": "\(id)", "token": "guess"])
                #expect(wrong.status == 403)
                let crossOrigin = try await endpoint.request("/dead-letters/requeue", method: "POST",
                    form: ["queue": "jobs", "id": "\(id)", "token": "s3cret"], headers: ["Origin": "http://evil.example"])
                #expect(crossOrigin.status == 403)
                #expect(try await deadLetters() == 4)
                let accepted = try await endpoint.request("/dead-letters/requeue", method: "POST", form: ["queue": "jobs", "id": "\(id)", "token": "s3cret"])
                #expect(accepted.status == 303)
                #expect(try await deadLetters() == 3)
                let state = try await TestDatabase.query("SELECT state FROM \(s).messages WHERE id = $1", [id]).single().decode(0, as: String.self)
                #expect(state == "ready")

                // Signing in sets a cookie only this site sends; with it, actions need no field.
                let login = try await endpoint.request("/login", method: "POST", form: ["token": "s3cret"])
                #expect(login.status == 303)
                let cookie = try #require(login.headers["set-cookie"])
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
                let cookieValue = String(cookie.prefix { $0 != ";" })
                let paused = try await endpoint.request("/queues/jobs/pause", method: "POST", form: [:], headers: ["Cookie": cookieValue])
                #expect(paused.status == 303)
                #expect(try await fixture.client.settings(of: "jobs").paused)
            }
            // Without a token the dashboard is read-only: the same action is refused.
            try await WebEndpoint.with(Array(arguments.dropLast(2))) { endpoint in
                let response = try await endpoint.request("/queues/jobs/purge-dead-letters", method: "POST", form: ["token": "s3cret"])
                #expect(response.status == 403)
                #expect(try await fixture.count("dead_letters") == 3)
            }
        }
    }

    /// A worker process's own metrics, exported with swift-prometheus (`--metrics-listen`),
    /// under the names docs/operations.md documents.
    @Test func aWorkerProcessExportsTheLibraryMetricsUnderTheirDocumentedNames() async throws {
        try await WorkerFixture.with(settings: QueueSettings()) { fixture in
            for _ in 0..<3 { _ = try await fixture.send("succeed") }
            let arguments = ["test-worker", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name,
                             "--queue", "jobs", "--record-table", "events"]
            try await WebEndpoint.with(arguments, listenOption: "--metrics-listen") { endpoint in
                try await waitUntil("the three messages acked") { try await fixture.queueFixture.count("messages") == 0 }
                var text = ""
                try await waitUntil("the acks counted") {
                    text = try await endpoint.request("/metrics").body
                    return samples(text)["muster_messages_acked_total{queue=\"jobs\"}"] == 3
                }
                let got = samples(text)
                #expect(got["muster_messages_read_total{queue=\"jobs\"}"] == 3)
                #expect(text.contains("# TYPE muster_handler_duration histogram"))
                #expect(got["muster_handler_duration_count{queue=\"jobs\"}"] == 3)
                #expect(got["muster_queue_lag_count{queue=\"jobs\"}"] == 3)
            }
        }
    }

    /// A session idle in a REPEATABLE READ transaction (a report, a pg_dump) holds back the
    /// horizon: horizon_holders names it, and the scrape's xmin_horizon_age counts at least the
    /// transactions committed since.
    @Test func aHeldSnapshotShowsInHorizonHoldersAndTheScrape() async throws {
        try await QueueFixture.with { fixture in
            let report = try await TestDatabase.connect()
            defer { Task { await report.close() } }
            _ = try await report.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
            _ = try await report.query("SELECT count(*) FROM pg_class")
            let pid: Int = try await report.query("SELECT pg_backend_pid()").single().decode(0)
            for n in 0..<5 { try await fixture.queue.send(QueueFixture.payload(n)) }
            let holder = try await TestDatabase.query("""
                SELECT kind, state, xmin_age FROM \(fixture.schema.quoted).horizon_holders WHERE holder = $1
                """, ["\(pid)"]).single()
            #expect(try holder.decode(0, as: String.self) == "session")
            #expect(try holder.decode(1, as: String.self) == "idle in transaction")
            let age: Int = try holder.decode(2)
            #expect(age >= 5)
            let horizon = try #require(try await fixture.client.databaseMetrics().first { $0.name == "xmin_horizon_age" })
            #expect(horizon.value >= Double(age))
            _ = try await report.query("COMMIT")
        }
    }

    @Test func badInputGetsAClearStatusAndNoPageReadsUnboundedly() async throws {
        try await QueueFixture.with { fixture in
            try await WebEndpoint.with(["dashboard", "--database-url", try TestDatabase.url(), "--schema", fixture.schema.name]) { endpoint in
                #expect(try await endpoint.request("/queues/nope").status == 404)
                #expect(try await endpoint.request("/queues/bad%20name").status == 400)
                #expect(try await endpoint.request("/executions?status=bogus").status == 400)
                #expect(try await endpoint.request("/executions?after=garbage").status == 400)
                #expect(try await endpoint.request("/executions/not-a-uuid").status == 400)
                #expect(try await endpoint.request("/executions/\(UUID().uuidString)").status == 404)
                let page = try await endpoint.request("/")
                #expect(page.headers["server-timing"]?.hasPrefix("db;dur=") == true)
                #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            }
        }
    }
}
