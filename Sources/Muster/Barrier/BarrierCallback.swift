public import Foundation

/// What an aggregating callback sees: its barrier and every member's outcome, ordered by
/// member key, read in one query when the callback starts.
public struct BarrierCallback: Sendable {
    public var barrier: Barrier
    public var members: [BarrierMember]

    /// Members that succeeded.
    public var succeeded: [BarrierMember] { members.filter { $0.status == .succeeded } }
    /// Members that failed (gave up, or dead-lettered).
    public var failed: [BarrierMember] { members.filter { $0.status == .failed } }

    /// The results of the succeeded members, decoded, in member-key order.
    public func results<T: Decodable>(as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> [T] {
        try succeeded.map { try $0.decodeResult(as: T.self, decoder: decoder) }
    }
}
