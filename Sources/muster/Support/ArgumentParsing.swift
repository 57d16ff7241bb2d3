public import ArgumentParser
import Foundation
public import Muster
public import MusterWeb

import Synchronization

/// Why the last value a custom argument type refused was wrong: the type's parser records its
/// rule here, and the CLI's error line names it after ArgumentParser reports the value
/// invalid (ArgumentParser's own message only says "invalid").
enum ArgumentRules {
    private static let lastRejection = Mutex<String?>(nil)

    /// Records `rule` for the value being parsed (its parser then returns nil).
    static func reject(_ rule: String) {
        lastRejection.withLock { $0 = rule }
    }

    /// The rule of the last refused value, once.
    static func takeRejection() -> String? {
        lastRejection.withLock { rule in
            defer { rule = nil }
            return rule
        }
    }

    static let duration = "durations look like 500ms, 30s, 5m, 2h or 7d"
}

/// `--delay 10s` and friends.
struct DurationArgument: ExpressibleByArgument {
    let duration: Duration
    init?(argument: String) {
        if argument.hasPrefix("-") {
            ArgumentRules.reject("durations must be positive; \(ArgumentRules.duration)")
            return nil
        }
        guard let duration = try? DurationText.parse(argument) else {
            ArgumentRules.reject(ArgumentRules.duration)
            return nil
        }
        self.duration = duration
    }
    static var defaultCompletionKind: CompletionKind { .default }
    /// `10m`, not the struct, in `--help`.
    var defaultValueDescription: String { DurationText.format(duration) }
}

extension QueueName: ExpressibleByArgument {
    public init?(argument: String) {
        do {
            try self.init(argument)
        } catch {
            ArgumentRules.reject("queue names are 1-64 letters, digits, _, - or .")
            return nil
        }
    }
}

extension StatementMode: ExpressibleByArgument {}

extension ListenAddress: ExpressibleByArgument {
    public init?(argument: String) {
        guard let address = ListenAddress(argument) else {
            ArgumentRules.reject("listen addresses are IPv4:port, [IPv6]:port or localhost:port, e.g. 127.0.0.1:9464")
            return nil
        }
        self = address
    }
}
