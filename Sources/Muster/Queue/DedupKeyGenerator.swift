import Foundation
import Synchronization

/// Generated dedup keys for sends that carry none: a random 128-bit prefix drawn once per
/// process, then a counter. Unique across processes (the prefix) and within one (the
/// counter), at a fraction of the cost of a random UUID per message.
enum DedupKeyGenerator {
    private static let prefix = UUID().uuidString.lowercased()
    private static let counter = Atomic<UInt64>(0)

    /// A key no other send will use.
    static func next() -> String {
        let value = counter.add(1, ordering: .relaxed).newValue
        return "\(prefix)-\(String(value, radix: 36))"
    }
}
