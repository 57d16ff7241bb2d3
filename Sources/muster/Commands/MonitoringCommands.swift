import ArgumentParser
import Foundation
import Logging
import Muster
import MusterWeb

/// `muster metrics`: serves the database-side metrics as Prometheus text at `/metrics`.
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Serve what only the database knows (queue depths, executions, barriers, workers, reaper) as Prometheus metrics.",
        discussion: """
            GET /metrics answers with one bounded-cost statement per scrape: counts walk an index and \
            stop at --count-cap, past which they are the planner's estimate (docs/operations.md ## Monitoring).

            Example: muster metrics --listen 127.0.0.1:9464
            """
    )

    @OptionGroup var database: InspectionDatabaseOptions
    @Option(help: ArgumentHelp("Address to listen on (localhost only by default; port 0 picks a free one).", valueName: "host:port"))
    var listen = ListenAddress("127.0.0.1:9464")!
    @Option(name: .customLong("count-cap"), help: "Counts stop here and become estimates, 1 to 100000000.")
    var countCap = DatabaseMetric.defaultCountCap

    func validate() throws {
        guard (1...100_000_000).contains(countCap) else { throw ValidationError("--count-cap must be between 1 and 100000000") }
    }

    func run() async throws {
        let logger = Logger(label: "muster.metrics")
        let client = try database.connection.client(maxConnections: 2, applicationName: "muster-metrics", database: try database.readDatabase())
        let endpoint = MetricsEndpoint(client: client, countCap: countCap, logger: logger)
        try await serve(endpoint.handle, at: listen, what: "metrics at /metrics", logger: logger)
        await client.shutdown()
    }
}

/// `muster dashboard`: the web dashboard.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the web dashboard: queues, executions, dead letters, workers, reaper.",
        discussion: """
            Read-only unless started with a token (--token or $MUSTER_DASHBOARD_TOKEN): then requeue, purge, \
            cancel, pause and resume are allowed to whoever gives it. --read-url sends the pages' reads to a \
            standby; actions always go to the database URL.

            Example: MUSTER_DASHBOARD_TOKEN=secret muster dashboard --listen 127.0.0.1:8080
            """
    )

    @OptionGroup var database: InspectionDatabaseOptions
    @Option(help: ArgumentHelp("Address to listen on (localhost only by default; port 0 picks a free one).", valueName: "host:port"))
    var listen = ListenAddress("127.0.0.1:8080")!
    @Option(help: ArgumentHelp("Token that allows actions (default: $MUSTER_DASHBOARD_TOKEN; none: read-only).", valueName: "token"))
    var token: String?

    func run() async throws {
        let logger = Logger(label: "muster.dashboard")
        let writer = try database.connection.client(maxConnections: 4, applicationName: "muster-dashboard")
        let read = try database.readDatabase()
        let reader = try read.map { try database.connection.client(maxConnections: 4, applicationName: "muster-dashboard", database: $0) } ?? writer
        let token = token ?? ProcessInfo.processInfo.environment["MUSTER_DASHBOARD_TOKEN"]
        if token != nil, !listen.isLoopback {
            logger.warning("the dashboard accepts actions and listens beyond this machine over plain HTTP: put TLS in front of it", metadata: ["listen": "\(listen)"])
        }
        let dashboard = Dashboard(reader: reader, writer: writer, token: token, logger: logger)
        try await serve(dashboard.handle, at: listen, what: token == nil ? "the dashboard (read-only)" : "the dashboard", logger: logger)
        await writer.shutdown()
        if read != nil { await reader.shutdown() }
    }
}

/// Serves `handler` at `address` until SIGTERM or SIGINT (see `announcedServer`).
private func serve(_ handler: @escaping WebServer.Handler, at address: ListenAddress, what: String, logger: Logger) async throws {
    try await runUntilSignalled([announcedServer(handler, at: address, what: what, logger: logger)], logger: logger)
}

/// A server for `handler` at `address` that prints `serving <what> on http://host:port` once
/// it listens (the port the system chose for port 0), the line tests and scripts wait for.
func announcedServer(_ handler: @escaping WebServer.Handler, at address: ListenAddress, what: String, logger: Logger) -> WebServer {
    WebServer(address: address, logger: logger, listening: { bound in
        // Written at once (not through stdout's buffer).
        FileHandle.standardOutput.write(Data("serving \(what) on http://\(bound)\n".utf8))
    }, handler: handler)
}
