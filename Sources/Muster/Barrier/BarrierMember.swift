public import Foundation

/// One member of a barrier and its outcome, as `barrier_members` has it.
public struct BarrierMember: Sendable, Hashable {
    /// `pending`, `succeeded` or `failed`.
    public struct Status: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        init(text: String) { rawValue = text }
        public static let pending = Status(text: "pending")
        public static let succeeded = Status(text: "succeeded")
        public static let failed = Status(text: "failed")
        public var description: String { rawValue }
    }

    public var key: String
    public var status: Status
    /// What the member's handler returned.
    public var result: JSONPayload?
    /// Why it failed.
    public var error: String?
    public var completedAt: Date?

    /// Decodes `result`; throws `invalidArgument` when it is missing or does not fit.
    public func decodeResult<T: Decodable>(as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let result else { throw MusterError(.invalidArgument, "member \(key) has no result") }
        return try result.decode(as: T.self, decoder: decoder)
    }
}

/// What completing a member did.
public struct MemberCompletion: Sendable, Hashable {
    /// False when the lease was lost: nothing was recorded (the current holder will complete it).
    public var applied: Bool
    /// True when this completion was counted (false for a duplicate).
    public var counted: Bool
    /// Members still outstanding after it, when counted.
    public var remaining: Int?
    /// True when this completion fired the barrier (enqueued the callback).
    public var fired: Bool
    public var callbackMessageID: Int64?
}
