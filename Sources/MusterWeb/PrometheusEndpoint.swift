/// `GET /metrics` answering with Prometheus text (exposition format 0.0.4) that `scrape`
/// produces on each request; any other path is 404, any other method 405. The one route both
/// exporters share: the database's (`MetricsEndpoint`) and a process's own swift-metrics
/// (`muster … --metrics-listen`).
public struct PrometheusEndpoint: Sendable {
    let scrape: @Sendable () async -> String

    public init(scrape: @escaping @Sendable () async -> String) {
        self.scrape = scrape
    }

    public func handle(_ request: WebRequest) async -> WebResponse {
        guard request.path == "/metrics" else { return .text("not found: try /metrics\n", status: 404) }
        guard request.method == "GET" || request.method == "HEAD" else { return .text("only GET\n", status: 405) }
        return .text(await scrape(), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }
}
