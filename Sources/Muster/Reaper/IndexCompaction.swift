/// Which hot index the reaper rebuilds next (migrations/0017_index_compaction.sql): a pure
/// decision over `hot_index_sizes`, so its rules are unit-tested.
///
/// An index of `messages` or `message_keys` that a held snapshot let grow keeps its size
/// after vacuum has emptied it. It is rebuilt (REINDEX CONCURRENTLY) when it is larger than
/// `minimumBytes` and more than `bloatFactor` times the size it needs (`compactBytes`: an
/// entry per live row and per row the heap can hold, so a busy queue's index, full of the
/// entries of rows acked since the last vacuum, is not taken for bloated); one per sweep, the
/// most bloated first. Never while a snapshot older than
/// `maximumSnapshotAge` is open: the rebuild would wait for it, and keep the entries it holds.
/// A copy left invalid by an interrupted rebuild (`*_ccnew`) is dropped first, whatever the
/// snapshots.
struct IndexCompaction: Sendable, Equatable {
    /// Below this an index is not worth a rebuild.
    var minimumBytes: Int64 = 4 << 20
    var bloatFactor: Double = 3
    var maximumSnapshotAge: Duration = .seconds(60)

    /// One row of `hot_index_sizes`.
    struct Index: Sendable, Equatable {
        var name: String
        var bytes: Int64
        var compactBytes: Int64
        var valid: Bool
    }

    enum Step: Sendable, Equatable {
        case drop(String)
        case rebuild(String)
    }

    func next(_ indexes: [Index], oldestSnapshot: Duration) -> Step? {
        if let leftover = indexes.first(where: { !$0.valid && $0.name.contains("_ccnew") }) {
            return .drop(leftover.name)
        }
        guard oldestSnapshot <= maximumSnapshotAge else { return nil }
        let bloated = indexes.filter {
            $0.valid && $0.bytes > minimumBytes && Double($0.bytes) > bloatFactor * Double(max($0.compactBytes, 1))
        }
        return bloated.max { ratio($0) < ratio($1) }.map { .rebuild($0.name) }
    }

    private func ratio(_ index: Index) -> Double { Double(index.bytes) / Double(max(index.compactBytes, 1)) }
}
