import Testing
@testable import Muster

/// The fetch loop's read sizes: full batches when idle, half a batch free before reading
/// again, settling messages free their slot but never more than twice the room is held.
@Suite struct ReadBudgetTests {
    @Test func anIdleWorkerReadsAFullBatch() {
        let budget = ReadBudget(concurrency: 4, prefetch: 6, batchSize: 10)
        #expect(budget.nextRead(held: 0, settling: 0) == 10)
    }

    @Test func aBatchIsCappedByTheRoom() {
        // Concurrency 1 without prefetch leases one message per statement (issue 15 raises it).
        #expect(ReadBudget(concurrency: 1, prefetch: 0, batchSize: 10).nextRead(held: 0, settling: 0) == 1)
        #expect(ReadBudget(concurrency: 4, prefetch: 0, batchSize: 10).nextRead(held: 0, settling: 0) == 4)
    }

    @Test func withMessagesHeldItWaitsForHalfABatch() {
        let budget = ReadBudget(concurrency: 10, prefetch: 0, batchSize: 10)
        #expect(budget.worthReading == 5)
        #expect(budget.nextRead(held: 6, settling: 0) == nil)
        #expect(budget.nextRead(held: 5, settling: 0) == 5)
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
