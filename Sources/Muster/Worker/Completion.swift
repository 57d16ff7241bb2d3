/// How a successful handler's message is settled. Plain handlers ack; barrier members ack
/// and record their result in one statement; callbacks finalize their barrier and ack.
enum Completion: Sendable {
    /// Work a callback commits together with its barrier's finalization: runs only in the
    /// transaction that finalizes the barrier, so it happens once (e.g. the next stage's
    /// fan-out, or the execution's completion).
    typealias Continuation = @Sendable (Transaction) async throws -> Void

    case ack
    /// `trace`: the handler span's context (`MessageTracing.currentHeaders`), empty without a
    /// tracer; recorded with the completion for the callback's span links.
    case member(barrierID: Int64, key: String, result: JSONPayload, trace: [String: String])
    /// `skipped`: the barrier was already finalized, the handler did not run.
    case finalize(barrierID: Int64, skipped: Bool, then: Continuation? = nil)
}
