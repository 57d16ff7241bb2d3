import Testing
@testable import Muster

/// The reaper's index rebuilds: after a held snapshot each index that grew under it, once;
/// at any other time only a very large index many times what it needs; the worst first,
/// never under an old snapshot; an interrupted rebuild's leftover dropped first.
@Suite struct IndexCompactionTests {
    let mib: Int64 = 1 << 20

    private func index(_ name: String, _ bytes: Int64, needs: Int64, fresh: Int64? = nil, valid: Bool = true) -> IndexCompaction.Index {
        .init(name: name, bytes: bytes, compactBytes: needs, freshBytes: fresh ?? needs, valid: valid)
    }

    @Test func aVeryLargeBloatedIndexIsRebuiltTheWorstFirstAtAnyTime() {
        var policy = IndexCompaction()
        let indexes = [index("messages_pkey", 80 * mib, needs: 20 * mib), index("messages_ready", 150 * mib, needs: 10 * mib),
                       index("messages_pending", 90 * mib, needs: 20 * mib), index("message_keys_pkey", 30 * mib, needs: 8192)]
        #expect(policy.next(indexes, oldestSnapshot: .seconds(2)) == .rebuild("messages_ready"))
        #expect(policy.rebuiltAfterSnapshot == nil)
    }

    @Test func aBusyQueuesSwingsBetweenVacuumsAreLeftAloneWithoutAHeldSnapshot() {
        var policy = IndexCompaction()
        // At 1,500 messages/s a hot index swings between 0.1 and 6 MiB from one vacuum to the
        // next: far more than its live rows need, but nothing a rebuild would keep.
        #expect(policy.next([index("messages_ready", 6 * mib, needs: 2 * mib, fresh: 100 << 10)], oldestSnapshot: .zero) == nil)
        #expect(policy.next([index("messages_ready", 60 * mib, needs: 8192)], oldestSnapshot: .zero) == nil, "under 64 MiB")
        #expect(policy.next([index("messages_ready", 150 * mib, needs: 60 * mib)], oldestSnapshot: .zero) == nil, "2.5× is not bloat enough")
    }

    @Test func afterAHeldSnapshotEachIndexThatGrewIsRebuiltOnceThenTheEpisodeEnds() {
        var policy = IndexCompaction()
        // Right after the release the heap is still large, so what the indexes need by the heap
        // bound hides them; measured against their live rows, three grew.
        let indexes = [index("messages_ready", 5 * mib, needs: 5 * mib, fresh: mib), index("messages_pkey", 9 * mib, needs: 8 * mib, fresh: mib),
                       index("message_keys_pkey", 3 * mib, needs: 3 * mib, fresh: 3 * mib), index("messages_pending", 2 * mib, needs: 2 * mib, fresh: 64 << 10),
                       index("message_keys_expiry", 200 << 10, needs: 8192, fresh: 8192)]
        #expect(policy.next(indexes, oldestSnapshot: .zero) == nil, "no snapshot seen: the any-time rule")
        #expect(policy.next(indexes, oldestSnapshot: .seconds(61)) == nil, "never under the snapshot")
        #expect(policy.rebuiltAfterSnapshot == [])
        #expect(policy.next(indexes, oldestSnapshot: .seconds(3)) == .rebuild("messages_pending"), "32×")
        #expect(policy.next(indexes, oldestSnapshot: .seconds(3)) == .rebuild("messages_pkey"), "9×")
        #expect(policy.next(indexes, oldestSnapshot: .seconds(3)) == .rebuild("messages_ready"), "5×")
        // message_keys_pkey has not grown (1×), message_keys_expiry is too small to matter.
        #expect(policy.next(indexes, oldestSnapshot: .seconds(3)) == nil)
        #expect(policy.rebuiltAfterSnapshot == nil, "the episode ended")
        // However the sizes swing afterwards, nothing is rebuilt again until the next held snapshot.
        #expect(policy.next(indexes, oldestSnapshot: .seconds(3)) == nil)
    }

    @Test func anIndexWhoseLiveRowsAreUnknownIsMeasuredOnlyAgainstItsSizeWhenTheSnapshotWasSeen() {
        var policy = IndexCompaction()
        let unknown = IndexCompaction.Index(name: "message_keys_pkey", bytes: 6 * mib, compactBytes: 5 * mib, freshBytes: nil, valid: true)
        _ = policy.next([], oldestSnapshot: .seconds(61))
        #expect(policy.next([unknown], oldestSnapshot: .zero) == nil, "no size known from the episode's start: not taken for grown")
        var seen = IndexCompaction()
        _ = seen.next([unknown], oldestSnapshot: .seconds(61))
        #expect(seen.next([unknown], oldestSnapshot: .zero) == nil, "the same size as then")
        var grown = unknown
        grown.bytes = 10 * mib
        _ = seen.next([unknown], oldestSnapshot: .seconds(61))
        #expect(seen.next([grown], oldestSnapshot: .zero) == .rebuild("message_keys_pkey"))
    }

    /// The fresh estimate counts an entry per live row; btree deduplication stores a run of
    /// equal keys (the ledger's expiry index: a send batch shares one timestamp) once, so an
    /// index of them can be far over its size before the snapshot and still look fresh.
    @Test func anIndexTheFreshEstimateOverstatesIsMeasuredAgainstItsSizeWhenTheSnapshotWasSeen() {
        var policy = IndexCompaction()
        let before = [index("message_keys_expiry", 20 * mib, needs: 20 * mib, fresh: 40 * mib), index("messages_ready", mib, needs: mib)]
        let after = [index("message_keys_expiry", 45 * mib, needs: 45 * mib, fresh: 40 * mib), index("messages_ready", mib, needs: mib)]
        _ = policy.next(before, oldestSnapshot: .seconds(61))
        _ = policy.next(after, oldestSnapshot: .seconds(200))
        #expect(policy.episode?.sizesWhenSeen["message_keys_expiry"] == 20 * mib, "the size at the first sweep that saw the snapshot")
        #expect(policy.next(after, oldestSnapshot: .zero) == .rebuild("message_keys_expiry"), "2.25× its size then, 1.1× the estimate")
        #expect(policy.next(after, oldestSnapshot: .zero) == nil)
    }

    @Test func aSnapshotHeldAgainDuringTheRebuildsWaitsAndTheEpisodeGoesOn() {
        var policy = IndexCompaction()
        let indexes = [index("messages_ready", 5 * mib, needs: 5 * mib, fresh: mib), index("messages_pkey", 9 * mib, needs: 8 * mib, fresh: mib)]
        _ = policy.next(indexes, oldestSnapshot: .seconds(90))
        #expect(policy.next(indexes, oldestSnapshot: .zero) == .rebuild("messages_pkey"))
        #expect(policy.next(indexes, oldestSnapshot: .seconds(120)) == nil)
        #expect(policy.next(indexes, oldestSnapshot: .zero) == .rebuild("messages_ready"), "and not messages_pkey twice")
    }

    @Test func nothingIsRebuiltWhileAnOldSnapshotIsOpen() {
        var policy = IndexCompaction()
        let bloated = [index("messages_ready", 150 * mib, needs: mib)]
        #expect(policy.next(bloated, oldestSnapshot: .seconds(61)) == nil)
        var fresh = IndexCompaction()
        #expect(fresh.next(bloated, oldestSnapshot: .seconds(60)) == .rebuild("messages_ready"))
    }

    @Test func anInterruptedRebuildsLeftoverIsDroppedFirstEvenUnderAnOldSnapshot() {
        var policy = IndexCompaction()
        let indexes = [index("messages_ready", 150 * mib, needs: mib), index("messages_ready_ccnew", 3 * mib, needs: mib, valid: false)]
        #expect(policy.next(indexes, oldestSnapshot: .seconds(600)) == .drop("messages_ready_ccnew"))
        // An invalid index that is not a rebuild's copy is not Muster's to drop.
        #expect(policy.next([index("someone_elses", 3 * mib, needs: mib, valid: false)], oldestSnapshot: .zero) == nil)
    }
}
