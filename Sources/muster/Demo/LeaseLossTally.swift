import Foundation
import Logging
import Synchronization

/// Counts the lost-lease warnings of the demo's workers: the worker's `lease_lost` (one per
/// lease it lost) and its heartbeat's `heartbeat found leases lost`. Operators are told to
/// act on these, so without faults there must be none. In-process workers log through
/// `logger(label:)`; worker processes write to a log file, counted with `count(inLog:)`.
final class LeaseLossTally: Sendable {
    private let warnings = Mutex(0)

    /// How many lost-lease warnings went through `logger(label:)`'s loggers.
    var count: Int { warnings.withLock { $0 } }

    /// A logger that writes like every other (the process's bootstrapped handler) and counts.
    func logger(label: String) -> Logger {
        Logger(label: label) { label in Counting(wrapped: Logger(label: label).handler, tally: self) }
    }

    /// Lost-lease warnings in a worker processes' log file.
    static func count(inLog path: String) -> Int {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { isLeaseLoss(String($0)) }.count
    }

    private static func isLeaseLoss(_ line: String) -> Bool {
        line.contains("lease_lost") || line.contains("heartbeat found leases lost")
    }

    private struct Counting: LogHandler {
        var wrapped: any LogHandler
        let tally: LeaseLossTally

        var metadata: Logger.Metadata {
            get { wrapped.metadata }
            set { wrapped.metadata = newValue }
        }

        var logLevel: Logger.Level {
            get { wrapped.logLevel }
            set { wrapped.logLevel = newValue }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { wrapped[metadataKey: key] }
            set { wrapped[metadataKey: key] = newValue }
        }

        func log(event: LogEvent) {
            if event.level >= .warning && LeaseLossTally.isLeaseLoss("\(event.message)") {
                tally.warnings.withLock { $0 += 1 }
            }
            wrapped.log(event: event)
        }
    }
}
