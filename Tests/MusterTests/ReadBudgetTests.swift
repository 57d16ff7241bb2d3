import Testing
@testable import Muster

/// The fetch loop's read sizes: full batches when idle and while every slot is busy, at once
/// when a slot would sit idle; settling messages free their slot, but never more than twice
/// the room is held.
@Suite struct ReadBudgetTests {
    @Test func anIdleWorkerReadsAFullBatch() {
        let budget = ReadBudget(concurrency: 4, prefetch: 6, batchSize: 10)
        #expect(budget.nextRead(held: 0, settling: 0) == 10)
    }

    @Test func aBatchIsCappedByTheRoom() {
        #expect(ReadBudget(concurrency: 1, prefetch: 0, batchSize: 10).nextRead(held: 0, settling: 0) == 1)
        #expect(ReadBudget(concurrency: 4, prefetch: 0, batchSize: 10).nextRead(held: 0, settling: 0) == 4)
    }

    @Test func withEverySlotBusyItWaitsForAWholeBatch() {
        let budget = ReadBudget(concurrency: 4, prefetch: 20, batchSize: 10)
        #expect(budget.worthReading == 10)
        // 4 running, 11 waiting: room for 9, not a batch.
        #expect(budget.nextRead(held: 15, settling: 0) == nil)
        // 4 running, 10 waiting: the next batch is read while those 10 still wait.
        #expect(budget.nextRead(held: 14, settling: 0) == 10)
    }

    @Test func anIdleSlotIsFilledAtOnceWithWhateverFits() {
        // Slow handlers without prefetch: one of eight finished, so read one now rather than
        // waiting until a batch of slots is free.
        let budget = ReadBudget(concurrency: 8, prefetch: 0, batchSize: 10)
        #expect(budget.nextRead(held: 8, settling: 0) == nil)
        #expect(budget.nextRead(held: 7, settling: 0) == 1)
        #expect(budget.nextRead(held: 8, settling: 1) == 1, "a settling message frees its slot")
    }

    @Test func settlingMessagesFreeTheirSlotsUpToTwiceTheRoom() {
        let budget = ReadBudget(concurrency: 10, prefetch: 0, batchSize: 10)
        // All ten held are being acked: read the next batch meanwhile.
        #expect(budget.nextRead(held: 10, settling: 10) == 10)
        // Twenty held (ten settling, ten running): nothing until some finish.
        #expect(budget.nextRead(held: 20, settling: 10) == nil)
        #expect(budget.nextRead(held: 15, settling: 10) == 5)
    }

    @Test func aSmallRoomStillReadsWhenNothingIsHeld() {
        let budget = ReadBudget(concurrency: 1, prefetch: 0, batchSize: 1)
        #expect(budget.worthReading == 1)
        #expect(budget.nextRead(held: 1, settling: 0) == nil)
        #expect(budget.nextRead(held: 0, settling: 0) == 1)
    }
}
