public import Foundation
public import Logging

/// What a handler knows about the delivery it is running.
public struct HandlerContext: Sendable {
    public var queue: QueueName
    public var messageID: Int64
    public var task: String
    public var executionID: UUID?
    /// This delivery's number: 1 for the first, `maxAttempts` for the last.
    public var attempt: Int
    /// Errors recorded by earlier deliveries; `attempt - 1 - previousErrors` died silently.
    public var previousErrors: Int
    public var headers: [String: String]
    /// The barrier this message is a member or the callback of (`muster-barrier` header).
    public var barrierID: Int64?
    /// The member key, for a barrier member (`muster-member` header).
    public var memberKey: String?
    /// When the lease ends unless the heartbeat extends it (it does, while the handler runs).
    public var leaseDeadline: Date
    /// A logger carrying message id, task and execution id on every line.
    public var logger: Logger
}
