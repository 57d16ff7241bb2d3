import Testing
@testable import Muster

/// The reaper's index rebuilds: only a large index many times its fresh size, the worst
/// first, never under an old snapshot; an interrupted rebuild's leftover is dropped first.
@Suite struct IndexCompactionTests {
    let policy = IndexCompaction()
    let mib: Int64 = 1 << 20

    private func index(_ name: String, _ bytes: Int64, fresh: Int64, valid: Bool = true) -> IndexCompaction.Index {
        .init(name: name, bytes: bytes, compactBytes: fresh, valid: valid)
    }

    @Test func aBloatedIndexIsRebuiltTheWorstFirst() {
        let indexes = [index("messages_pkey", 8 * mib, fresh: 2 * mib), index("messages_ready", 15 * mib, fresh: mib),
                       index("messages_pending", 9 * mib, fresh: 2 * mib), index("message_keys_pkey", 3 * mib, fresh: 8192)]
        #expect(policy.next(indexes, oldestSnapshot: .seconds(2)) == .rebuild("messages_ready"))
    }

    @Test func smallOrModeratelyGrownIndexesAreLeftAlone() {
        // A busy queue's hot indexes are up to 1.5 MiB between vacuums with a few hundred live
        // entries: not worth a rebuild.
        #expect(policy.next([index("messages_ready", 4 * mib, fresh: 8192)], oldestSnapshot: .zero) == nil, "4 MiB is not worth it")
        #expect(policy.next([index("messages_ready", 6 * mib, fresh: 2 * mib)], oldestSnapshot: .zero) == nil, "3× is not bloat enough")
    }

    @Test func nothingIsRebuiltWhileAnOldSnapshotIsOpen() {
        let bloated = [index("messages_ready", 15 * mib, fresh: mib)]
        #expect(policy.next(bloated, oldestSnapshot: .seconds(61)) == nil)
        #expect(policy.next(bloated, oldestSnapshot: .seconds(60)) == .rebuild("messages_ready"))
    }

    @Test func anInterruptedRebuildsLeftoverIsDroppedFirstEvenUnderAnOldSnapshot() {
        let indexes = [index("messages_ready", 15 * mib, fresh: mib), index("messages_ready_ccnew", 3 * mib, fresh: mib, valid: false)]
        #expect(policy.next(indexes, oldestSnapshot: .seconds(600)) == .drop("messages_ready_ccnew"))
        // An invalid index that is not a rebuild's copy is not Muster's to drop.
        #expect(policy.next([index("someone_elses", 3 * mib, fresh: mib, valid: false)], oldestSnapshot: .zero) == nil)
    }
}
