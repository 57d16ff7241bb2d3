import Logging
import Metrics
import MetricsTestKit

/// The test process's metrics backend: swift-metrics' in-memory `TestMetrics`, bootstrapped
/// once on first use. Counters created after that are recorded; labels carry the queue as a
/// dimension, so a test that reads them uses a queue name of its own.
enum RecordedMetrics {
    static let shared: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    /// The total of the counter `label` with `dimensions`, 0 when it was never created.
    static func total(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        (try? shared.expectCounter(label, dimensions).totalValue) ?? 0
    }
}

/// A `LogHandler` that keeps every line at or above `logLevel`, for tests that check what a
/// component told its operator.
final class LogRecorder: LogHandler, Sendable {
    private let lines = Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .debug }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        lines.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
    }

    /// A logger writing here.
    var logger: Logger { Logger(label: "test") { _ in self } }

    /// Messages logged at `level`.
    func messages(at level: Logger.Level) -> [String] {
        lines.value.filter { $0.level == level }.map(\.message)
    }

    /// Messages logged at `level` with their metadata, for a failure's description.
    func described(at level: Logger.Level) -> [String] {
        lines.value.filter { $0.level == level }.map { "\($0.message) \($0.metadata)" }
    }
}
