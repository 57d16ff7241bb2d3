import ArgumentParser
import Foundation
import Logging
import Metrics
import Muster
import MusterWeb
import Prometheus
import ServiceLifecycle

/// `--metrics-listen`: the process's own swift-metrics (the worker's and reaper's `muster_*`
/// counters and timers, docs/operations.md ## Monitoring) exported with swift-prometheus at
/// `/metrics`. This is how an application exports them too: bootstrap a
/// `PrometheusMetricsFactory`, serve its registry.
struct LibraryMetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp(
        "Serve this process's metrics (Prometheus text at /metrics) on this address, e.g. 127.0.0.1:9465 (default: none).",
        valueName: "host:port"
    ))
    var listen: ListenAddress?

    /// The services to run beside the process's own: none without --metrics-listen. Bootstraps
    /// the metrics system (once per process), so call it before creating workers.
    func services(logger: Logger) -> [any Service] {
        guard let listen else { return [] }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let endpoint = PrometheusEndpoint { registry.emitToString() }
        return [announcedServer(endpoint.handle, at: listen, what: "library metrics", logger: logger)]
    }
}
