/// Which hot index the reaper rebuilds next (migrations/0017_index_compaction.sql,
/// 0020_index_sizes_after_a_held_snapshot.sql): a decision over `hot_index_sizes` that
/// remembers one thing between sweeps, whether a held snapshot has just ended, so its rules
/// are unit-tested.
///
/// An index of `messages` or `message_keys` that grew under a held snapshot keeps its size
/// after vacuum has emptied it. Two rules decide what is rebuilt (REINDEX CONCURRENTLY), one
/// per sweep, the most grown first, never while a snapshot older than `maximumSnapshotAge` is
/// open (the rebuild would wait for it, and keep the entries it holds):
///
/// - **After a held snapshot.** Once a sweep has seen such a snapshot, and it has ended, each
///   index over `afterSnapshotMinimumBytes` and more than `afterSnapshotFactor` times its
///   baseline is rebuilt once; when none is left, the episode ends. The baseline is the smaller
///   of a fresh build of its live rows (`freshBytes`, an estimate that counts every entry, so
///   it overstates an index whose equal keys btree deduplication stores once, such as the
///   ledger's expiry index, where a send batch shares one timestamp) and its size at the
///   sweep that first saw the snapshot.
/// - **Any time.** An index over `minimumBytes` and more than `bloatFactor` times what it needs
///   (`compactBytes`: an entry per live row and per row the heap can hold) grew beyond what
///   churn between vacuums explains. The floor is high: a busy queue's hot index swings by
///   several MiB between vacuums on its own, and a lower one rebuilt it every few minutes.
///
/// A copy left invalid by an interrupted rebuild (`*_ccnew`) is dropped first, whatever the
/// snapshots.
struct IndexCompaction: Sendable, Equatable {
    var minimumBytes: Int64 = 64 << 20
    var bloatFactor: Double = 3
    var afterSnapshotMinimumBytes: Int64 = 256 << 10
    var afterSnapshotFactor: Double = 1.5
    var maximumSnapshotAge: Duration = .seconds(60)

    /// Open from the first sweep that saw a snapshot older than `maximumSnapshotAge` until
    /// every index that grew under it has been rebuilt once.
    private(set) var episode: Episode?

    /// A held snapshot and what followed it.
    struct Episode: Sendable, Equatable {
        /// Each index's size at the sweep that first saw the snapshot.
        var sizesWhenSeen: [String: Int64]
        /// The indexes rebuilt since it ended.
        var rebuilt: Set<String> = []
    }

    /// The indexes rebuilt after the last held snapshot; nil outside an episode.
    var rebuiltAfterSnapshot: Set<String>? { episode?.rebuilt }

    /// One row of `hot_index_sizes`.
    struct Index: Sendable, Equatable {
        var name: String
        var bytes: Int64
        var compactBytes: Int64
        /// nil while the table's live rows are unknown (never vacuumed or analyzed).
        var freshBytes: Int64?
        var valid: Bool
    }

    enum Step: Sendable, Equatable {
        case drop(String)
        case rebuild(String)
    }

    /// The step to take now, given every hot index and the age of the oldest open snapshot.
    mutating func next(_ indexes: [Index], oldestSnapshot: Duration) -> Step? {
        if let leftover = indexes.first(where: { !$0.valid && $0.name.contains("_ccnew") }) {
            return .drop(leftover.name)
        }
        guard oldestSnapshot <= maximumSnapshotAge else {
            if episode == nil {
                episode = Episode(sizesWhenSeen: Dictionary(indexes.map { ($0.name, $0.bytes) }) { first, _ in first })
            }
            return nil
        }
        if let current = episode {
            let grown = indexes.compactMap { index -> (Index, baseline: Int64)? in
                let known = [index.freshBytes, current.sizesWhenSeen[index.name]].compactMap { $0 }
                guard let baseline = known.min(), index.valid, !current.rebuilt.contains(index.name),
                      index.bytes > afterSnapshotMinimumBytes, Double(index.bytes) > afterSnapshotFactor * Double(max(baseline, 1))
                else { return nil }
                return (index, baseline)
            }
            if let worst = grown.max(by: { Self.ratio($0.0, to: $0.baseline) < Self.ratio($1.0, to: $1.baseline) }) {
                episode?.rebuilt.insert(worst.0.name)
                return .rebuild(worst.0.name)
            }
            episode = nil
        }
        let bloated = indexes.filter {
            $0.valid && $0.bytes > minimumBytes && Double($0.bytes) > bloatFactor * Double(max($0.compactBytes, 1))
        }
        return bloated.max { Self.ratio($0, to: $0.compactBytes) < Self.ratio($1, to: $1.compactBytes) }.map { .rebuild($0.name) }
    }

    private static func ratio(_ index: Index, to need: Int64) -> Double { Double(index.bytes) / Double(max(need, 1)) }
}
