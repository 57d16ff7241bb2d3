import Foundation
public import Logging
public import Muster

/// `muster dashboard`: server-rendered pages over the inspection API, and a few POST actions.
///
/// Reads go to `reader` (a standby, with `--read-url`), actions to `writer`. Actions (requeue
/// a dead letter, purge a queue's dead letters, cancel an execution, pause or resume a queue)
/// need the token the dashboard was started with: in the form's `token` field, an
/// `Authorization: Bearer` header, or the cookie `/login` sets (HttpOnly, SameSite=Strict, so
/// another site cannot post with it). Without a token the dashboard is read-only and every
/// POST is refused with 403; a refused action changes nothing. Every page reads a bounded
/// number of rows (keyset pages, capped counts) and says how long its reads took in a
/// `Server-Timing: db;dur=<ms>, total;dur=<ms>` header.
public struct Dashboard: Sendable {
    let reader: MusterClient
    let writer: MusterClient
    let token: String?
    let logger: Logger

    static let cookie = "muster_dashboard_token"

    public init(reader: MusterClient, writer: MusterClient, token: String?, logger: Logger) {
        self.reader = reader
        self.writer = writer
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.logger = logger
    }

    public func handle(_ request: WebRequest) async -> WebResponse {
        let started = ContinuousClock.now
        let database = DatabaseTime()
        var response: WebResponse
        do {
            response = try await DatabaseTime.$current.withValue(database) { try await route(request) }
        } catch let error as MusterError {
            response = failure(error, request: request)
        } catch {
            response = page("Error", status: 500, content: HTML.code("\(error)"), request: request)
        }
        response.headers += [
            ("Server-Timing", "db;dur=\(DatabaseTime.milliseconds(database.total)), total;dur=\(DatabaseTime.milliseconds(ContinuousClock.now - started))"),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'"),
        ]
        return response
    }

    // MARK: - Routing

    func route(_ request: WebRequest) async throws -> WebResponse {
        let path = request.segments
        switch (request.method, path.first) {
        case ("GET", "style.css"?): return .text(HTML.stylesheet, contentType: "text/css; charset=utf-8")
        case ("GET", "app.js"?): return .text(HTML.script, contentType: "text/javascript; charset=utf-8")
        case ("GET", nil): return try await queuesPage(request)
        case ("GET", "queues"?) where path.count == 2: return try await queuePage(try queueName(path[1]), request)
        case ("GET", "executions"?) where path.count == 1: return try await executionsPage(request)
        case ("GET", "executions"?) where path.count == 2: return try await executionPage(try executionID(path[1]), request)
        case ("GET", "dead-letters"?) where path.count == 1: return try await deadLettersPage(request)
        case ("GET", "workers"?) where path.count == 1:
            let (workers, capped) = try await sql { try await reader.workers(leaseCountCap: DatabaseMetric.defaultCountCap) }
            return page("Workers", content: DashboardPages.workers(workers, leaseCountsCapped: capped), request: request)
        case ("GET", "reaper"?) where path.count == 1:
            return page("Reaper", content: DashboardPages.reaper(try await sql { try await reader.reaperLeader() }), request: request)
        case ("POST", _): return try await post(request)
        case ("GET", _): return page("Not found", status: 404, content: "<p>No such page.</p>", request: request)
        default: return .text("method not allowed\n", status: 405)
        }
    }

    func queuesPage(_ request: WebRequest) async throws -> WebResponse {
        let metrics = try await sql { try await reader.databaseMetrics() }
        let sends = try await sql { try await reader.sendsInTheLastMinute() }
        return page("Queues", content: DashboardPages.queues(metrics, sends: sends, allowActions: token != nil), request: request)
    }

    func queuePage(_ name: QueueName, _ request: WebRequest) async throws -> WebResponse {
        let settings = try await sql { try await reader.settings(of: name) }
        let metrics = try await sql { try await reader.databaseMetrics(queue: name) }
        let letters = try await sql { try await reader.newestDeadLetters(queue: name, limit: 20) }
        return page("Queue \(name.rawValue)", content: DashboardPages.queue(
            name.rawValue, metrics: metrics, settings: settings, deadLetters: letters, allowActions: token != nil), request: request)
    }

    func executionsPage(_ request: WebRequest) async throws -> WebResponse {
        let status = try request.query["status"].flatMap { $0.isEmpty ? nil : $0 }.map { text in
            guard let status = ExecutionStatus(rawValue: text) else {
                throw MusterError(.invalidArgument, "status must be one of \(ExecutionStatus.all.map(\.rawValue).joined(separator: ", "))")
            }
            return status
        }
        let pipeline = request.query["pipeline"].flatMap { $0.isEmpty ? nil : $0 }
        let cursor = try request.query["after"].map { token in
            guard let cursor = ExecutionCursor(token: token) else { throw MusterError(.invalidArgument, "after is not a page cursor") }
            return cursor
        }
        let executions = try await sql { try await reader.executions.page(status: status, pipeline: pipeline, after: cursor, limit: 50) }
        return page("Executions", content: DashboardPages.executions(executions, status: status, pipeline: pipeline), request: request)
    }

    func executionPage(_ id: UUID, _ request: WebRequest) async throws -> WebResponse {
        let report = try await sql { try await reader.executions.report(id) }
        return page("Execution \(id.uuidString.lowercased())", content: DashboardPages.execution(report, allowActions: token != nil), request: request)
    }

    func deadLettersPage(_ request: WebRequest) async throws -> WebResponse {
        let queue = try request.query["queue"].flatMap { $0.isEmpty ? nil : $0 }.map(queueName)
        let letters = try await sql { try await reader.newestDeadLetters(queue: queue, limit: 50) }
        let queues = try await sql { try await reader.queues() }.map(\.name.rawValue)
        return page("Dead letters", content: DashboardPages.deadLetters(
            letters, queue: queue?.rawValue, queues: queues, allowActions: token != nil), request: request)
    }

    /// Runs one read and counts its time as the request's database time.
    func sql<T>(_ read: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        defer { DatabaseTime.current?.add(ContinuousClock.now - started) }
        return try await read()
    }

    // MARK: - Actions

    func post(_ request: WebRequest) async throws -> WebResponse {
        guard let token else {
            return page("Read-only", status: 403, content: "<p>This dashboard was started without --token: actions are off.</p>", request: request)
        }
        // A browser posting from another origin is refused even with the cookie.
        if let origin = request.headers["origin"], let host = request.headers["host"], origin != "http://\(host)", origin != "https://\(host)" {
            return page("Forbidden", status: 403, content: "<p>Cross-origin request refused.</p>", request: request)
        }
        let form = request.form
        let path = request.segments
        if path == ["login"] {
            guard let given = form["token"], Self.same(given, token) else {
                return page("Forbidden", status: 403, content: "<p>Wrong token.</p>", request: request)
            }
            return .redirect(to: "/", headers: [("Set-Cookie", "\(Self.cookie)=\(Self.cookieValue(token)); Path=/; HttpOnly; SameSite=Strict")])
        }
        guard authorized(request, form: form, token: token) else {
            return page("Forbidden", status: 403, content: "<p>This action needs the dashboard's token.</p>", request: request)
        }
        switch path.count >= 2 ? (path[0], path.count == 3 ? path[2] : path[1]) : ("", "") {
        case ("dead-letters", "requeue") where path.count == 2:
            let queue = try queueName(form["queue"] ?? "")
            guard let id = form["id"].flatMap(Int64.init) else { throw MusterError(.invalidArgument, "id must be a dead letter's id") }
            let requeued = try await writer.queue(queue).requeueDeadLetters(ids: [id])
            logger.info("dashboard requeued a dead letter", metadata: ["queue": "\(queue)", "id": "\(id)", "requeued": "\(requeued.count)"])
            return .redirect(to: "/dead-letters?queue=\(HTML.urlComponent(queue.rawValue))")
        case ("queues", "purge-dead-letters") where path.count == 3:
            let queue = try queueName(path[1])
            let purged = try await writer.queue(queue).purgeDeadLetters()
            logger.info("dashboard purged dead letters", metadata: ["queue": "\(queue)", "purged": "\(purged)"])
            return .redirect(to: "/queues/\(HTML.urlComponent(queue.rawValue))")
        case ("queues", let verb) where path.count == 3 && (verb == "pause" || verb == "resume"):
            let queue = try queueName(path[1])
            try await writer.setPaused(verb == "pause", queue: queue)
            logger.info("dashboard \(verb)d a queue", metadata: ["queue": "\(queue)"])
            return .redirect(to: "/queues/\(HTML.urlComponent(queue.rawValue))")
        case ("executions", "cancel") where path.count == 3:
            let id = try executionID(path[1])
            let outcome = try await writer.executions.cancel(id, reason: "canceled from the dashboard")
            logger.info("dashboard canceled an execution", metadata: ["execution_id": "\(id)", "canceled": "\(outcome.canceled)"])
            return .redirect(to: "/executions/\(id.uuidString.lowercased())")
        default:
            return page("Not found", status: 404, content: "<p>No such action.</p>", request: request)
        }
    }

    func authorized(_ request: WebRequest, form: [String: String], token: String) -> Bool {
        if let given = form["token"], Self.same(given, token) { return true }
        if let header = request.headers["authorization"], header.hasPrefix("Bearer "), Self.same(String(header.dropFirst(7)), token) { return true }
        if let cookie = request.cookie(Self.cookie), Self.same(cookie, Self.cookieValue(token)) { return true }
        return false
    }

    /// The cookie holds the token percent-encoded (a token may contain `;` or spaces).
    static func cookieValue(_ token: String) -> String { HTML.urlComponent(token) }

    /// Compares in time independent of where the texts differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    // MARK: - Rendering

    func page(_ title: String, status: Int = 200, content: String, request: WebRequest) -> WebResponse {
        let signedIn = token.map { authorized(request, form: [:], token: $0) } ?? false
        return .text(HTML.page(title: title, readOnly: token == nil, signedIn: signedIn, content), status: status, contentType: "text/html; charset=utf-8")
    }

    func failure(_ error: MusterError, request: WebRequest) -> WebResponse {
        let status = switch error.code {
        case .unknownQueue, .unknownExecution: 404
        case .invalidArgument: 400
        case .connectFailed, .connectionLost, .timeout: 503
        default: 500
        }
        if status >= 500 { logger.warning("dashboard page failed", metadata: ["path": "\(request.path)", "error": "\(error)"]) }
        return page(status == 404 ? "Not found" : "Error", status: status, content: "<p>\(HTML.escape(error.message))</p>", request: request)
    }

    func queueName(_ text: String) throws -> QueueName { try QueueName(text) }

    func executionID(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw MusterError(.invalidArgument, "\(text) is not an execution id") }
        return id
    }
}
