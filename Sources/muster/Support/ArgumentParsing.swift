public import ArgumentParser
import Foundation
public import Muster

/// `--delay 10s` and friends.
struct DurationArgument: ExpressibleByArgument {
    let duration: Duration
    init?(argument: String) {
        guard let duration = try? DurationText.parse(argument) else { return nil }
        self.duration = duration
    }
    static var defaultCompletionKind: CompletionKind { .default }
    /// `10m`, not the struct, in `--help`.
    var defaultValueDescription: String { DurationText.format(duration) }
}

extension QueueName: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(argument) }
}

extension StatementMode: ExpressibleByArgument {}
