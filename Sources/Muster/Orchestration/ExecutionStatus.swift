/// Where an execution stands: pending → running → completed | failed | canceled (pending may
/// also fail or be canceled). Terminal states are final. The schema's
/// `execution_status_guard` trigger is the one place that enforces the transitions, for the
/// library and for a person with psql alike.
public struct ExecutionStatus: Hashable, Sendable, Codable, CustomStringConvertible {
    private enum Base: String, Sendable {
        case pending, running, completed, failed, canceled
    }

    private let base: Base
    private init(_ base: Base) { self.base = base }

    /// Created, not started.
    public static let pending = ExecutionStatus(.pending)
    /// Its orchestration ran; parts are being processed.
    public static let running = ExecutionStatus(.running)
    /// Finished with an output.
    public static let completed = ExecutionStatus(.completed)
    /// Finished with an error.
    public static let failed = ExecutionStatus(.failed)
    /// Stopped on request.
    public static let canceled = ExecutionStatus(.canceled)

    /// Every status, in lifecycle order.
    public static let all: [ExecutionStatus] = [.pending, .running, .completed, .failed, .canceled]

    /// Parses the column's text; nil for anything else.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }

    /// The text stored in `executions.status`.
    public var rawValue: String { base.rawValue }
    /// Completed, failed or canceled: nothing changes it any more.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .canceled }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let status = ExecutionStatus(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown execution status \(text)"))
        }
        self = status
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
