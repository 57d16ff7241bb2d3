import Testing
@testable import Muster

@Suite struct WakeUpBatchTests {
    @Test func theFirstPokeStartsTheFlusherAndLaterOnesJoinIt() {
        var batch = WakeUpBatch()
        let first = batch.poke("a"), second = batch.poke("b"), again = batch.poke("a")
        #expect(first && !second && !again)
        let taken = batch.take()
        #expect(taken == ["a", "b"])
    }

    @Test func pokesDuringAFlushGoOutInTheNextTake() {
        var batch = WakeUpBatch()
        _ = batch.poke("a")
        let first = batch.take()
        let joined = batch.poke("a")
        let second = batch.take()
        #expect(first == ["a"] && second == ["a"])
        #expect(!joined, "the flusher still runs: it takes this one next")
    }

    @Test func anEmptyTakeStopsTheFlusherSoTheNextPokeStartsOne() {
        var batch = WakeUpBatch()
        _ = batch.poke("a")
        _ = batch.take()
        let empty = batch.take()
        #expect(empty.isEmpty && !batch.flushing)
        let restarted = batch.poke("b")
        #expect(restarted)
    }
}
