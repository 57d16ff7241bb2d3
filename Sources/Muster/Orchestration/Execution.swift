public import Foundation

/// One pipeline execution, as the `executions` table has it.
public struct Execution: Sendable, Hashable {
    public var id: UUID
    public var pipeline: String
    /// The stage it is in: the name of the last barrier armed for it.
    public var stage: String?
    public var status: ExecutionStatus
    /// The caller's key that makes starting it idempotent.
    public var idempotencyKey: String?
    /// A short description of the input, for people.
    public var inputSummary: JSONPayload?
    /// The result, once completed.
    public var output: JSONPayload?
    /// Why it failed or was canceled.
    public var error: String?
    /// After this the reaper fails it (unless some of its work is running or in backoff).
    public var deadline: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
}
