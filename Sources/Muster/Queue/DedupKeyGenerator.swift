import Foundation
import Synchronization

/// Generated dedup keys for sends that carry none: `muster:sent:`, a random 128-bit prefix
/// drawn once per process, then a counter. Unique across processes (the prefix) and within
/// one (the counter), at a fraction of the cost of a random UUID per message.
///
/// Such a key's only use is the client's own retry of its send after an ambiguous commit: one
/// retry, on a fresh connection, and never once `retryHorizon` has passed since the first
/// attempt started. So the ledger keeps it only `window` (migrations/0018), not the queue's
/// dedup window; the `muster:` prefix is reserved, so no caller's key is taken for one.
enum DedupKeyGenerator {
    private static let prefix = "muster:sent:" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    private static let counter = Atomic<UInt64>(0)

    /// How long the ledger keeps a generated key (`sweep_dedup_keys`).
    static let window: Duration = .seconds(300)
    /// A send is retried after a lost connection only this soon after its first attempt
    /// started: well inside `window`, so the retry still finds the key.
    static let retryHorizon: Duration = .seconds(240)

    /// A key no other send will use.
    static func next() -> String {
        let value = counter.add(1, ordering: .relaxed).newValue
        return "\(prefix)-\(String(value, radix: 36))"
    }
}
