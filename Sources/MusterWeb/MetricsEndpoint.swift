import Foundation
public import Logging
public import Muster

/// `GET /metrics`: the database-side metrics (`MusterClient.databaseMetrics`) as Prometheus
/// text. Each scrape is one statement of bounded cost. When the database does not answer,
/// the scrape still succeeds with `muster_up 0`, so an alert can tell "queue empty" from
/// "cannot see the queue".
public struct MetricsEndpoint: Sendable {
    let client: MusterClient
    let countCap: Int
    let logger: Logger

    public init(client: MusterClient, countCap: Int = DatabaseMetric.defaultCountCap, logger: Logger) {
        self.client = client
        self.countCap = countCap
        self.logger = logger
    }

    public func handle(_ request: WebRequest) async -> WebResponse {
        await PrometheusEndpoint(scrape: scrape).handle(request)
    }

    func scrape() async -> String {
        let started = ContinuousClock.now
        var metrics: [DatabaseMetric]?
        do {
            metrics = try await client.databaseMetrics(countCap: countCap)
        } catch {
            logger.warning("scrape could not read the database; muster_up is 0", metadata: ["error": "\(error)"])
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return PrometheusText.render(metrics, scrapeSeconds: seconds)
    }
}
