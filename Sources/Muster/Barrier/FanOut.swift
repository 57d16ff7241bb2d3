public import Foundation

/// A fan-out: arm a barrier on an execution and send one message per member; when the last
/// member completes, the callback message is enqueued, once.
public struct FanOut: Sendable {
    /// One part of the work.
    public struct Member: Sendable {
        /// Unique within the barrier (1–200 bytes); completions are deduplicated by it.
        public var key: String
        /// The member message's payload.
        public var payload: JSONPayload

        public init(key: String, payload: JSONPayload) {
            self.key = key
            self.payload = payload
        }
    }

    public var executionID: UUID
    /// The barrier's (stage's) name, unique per execution: arming it again returns the
    /// existing barrier and sends nothing. 1–100 of `A-Za-z0-9_.:-`.
    public var name: String
    public var memberQueue: QueueName
    public var memberTask: String
    public var members: [Member]
    public var callbackQueue: QueueName
    public var callbackTask: String
    /// The callback message's payload; member results are read from the barrier, not carried here.
    public var callbackPayload: JSONPayload
    public var onFailure: FailurePolicy
    /// After this the reaper may expire the barrier and fail the execution (never while a
    /// pending member runs or waits out a retry backoff).
    public var deadline: Date?

    public init(
        executionID: UUID,
        name: String,
        memberQueue: QueueName,
        memberTask: String,
        members: [Member],
        callbackQueue: QueueName,
        callbackTask: String,
        callbackPayload: JSONPayload = .emptyObject,
        onFailure: FailurePolicy = .waitForAll,
        deadline: Date? = nil
    ) {
        self.executionID = executionID
        self.name = name
        self.memberQueue = memberQueue
        self.memberTask = memberTask
        self.members = members
        self.callbackQueue = callbackQueue
        self.callbackTask = callbackTask
        self.callbackPayload = callbackPayload
        self.onFailure = onFailure
        self.deadline = deadline
    }
}

/// What `Barriers.fanOut` did.
public struct FanOutResult: Sendable, Hashable {
    public var barrierID: Int64
    /// False when the barrier already existed (nothing was sent).
    public var created: Bool
    /// The callback message, when the barrier fired at once (no members).
    public var callbackMessageID: Int64?
}
