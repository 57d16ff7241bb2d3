/// Where a barrier stands.
public struct BarrierStatus: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The text stored in `barriers.status`.
    public let rawValue: String
    private init(_ rawValue: String) { self.rawValue = rawValue }

    /// Counting completions.
    public static let armed = BarrierStatus("armed")
    /// Every member completed; the callback was enqueued.
    public static let fired = BarrierStatus("fired")
    /// A member failed under fail-fast; the callback was enqueued with the failure.
    public static let failed = BarrierStatus("failed")
    /// The reaper gave up at the deadline and failed the execution; no callback.
    public static let expired = BarrierStatus("expired")
    /// Its execution was canceled; it never fires.
    public static let canceled = BarrierStatus("canceled")

    init(text: String) { self.rawValue = text }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
