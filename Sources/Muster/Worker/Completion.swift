/// How a successful handler's message is settled. Plain handlers ack; barrier members ack
/// and record their result in one statement; callbacks finalize their barrier and ack.
enum Completion: Sendable {
    case ack
    case member(barrierID: Int64, key: String, result: JSONPayload)
    /// `skipped`: the barrier was already finalized, the handler did not run.
    case finalize(barrierID: Int64, skipped: Bool)
}
