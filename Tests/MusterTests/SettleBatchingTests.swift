import Synchronization
import Testing
@testable import Muster

/// When a settle lane writes: a full batch at once, otherwise after lingering, at once when
/// the handlers are idle or the lane closes.
@Suite struct SettleBatchingTests {
    let start = ContinuousClock.now

    private func written(_ take: SettleBatching<Int>.Take) -> [Int]? {
        if case .write(let items) = take { return items }
        return nil
    }

    private func waited(_ take: SettleBatching<Int>.Take) -> Duration?? {
        if case .wait(let limit) = take { return .some(limit) }
        return nil
    }

    @Test func anEmptyLaneWaitsWithoutLimitAndAClosedOneFinishes() {
        var batching = SettleBatching<Int>(target: 3, linger: .milliseconds(5))
        #expect(waited(batching.take(at: start)) == .some(nil))
        batching.close()
        guard case .finished = batching.take(at: start) else { Issue.record("a closed, empty lane is finished"); return }
    }

    @Test func aFullBatchIsWrittenAtOnce() {
        var batching = SettleBatching<Int>(target: 3, linger: .milliseconds(5))
        for item in 1...4 { batching.append(item, at: start) }
        #expect(written(batching.take(at: start)) == [1, 2, 3, 4])
    }

    @Test func fewerItemsLingerUntilTheOldestHasWaitedLongEnough() {
        var batching = SettleBatching<Int>(target: 3, linger: .milliseconds(5))
        batching.append(1, at: start)
        batching.append(2, at: start + .milliseconds(2))
        #expect(waited(batching.take(at: start + .milliseconds(3))) == .some(.milliseconds(2)))
        #expect(written(batching.take(at: start + .milliseconds(5))) == [1, 2])
    }

    @Test func idleHandlersAndClosingWriteWithoutLingering() {
        var batching = SettleBatching<Int>(target: 3, linger: .seconds(1))
        batching.hurry()
        batching.append(1, at: start)
        #expect(waited(batching.take(at: start)) != nil, "hurrying an empty lane does not rush the next item")
        batching.hurry()
        #expect(written(batching.take(at: start)) == [1])
        batching.append(2, at: start)
        #expect(waited(batching.take(at: start)) != nil, "each write resets the hurry")
        batching.close()
        #expect(written(batching.take(at: start)) == [2])
    }

    @Test func aBatchNeverExceedsTheMaximum() {
        var batching = SettleBatching<Int>(target: 10, maxBatch: 4, linger: .zero)
        for item in 1...6 { batching.append(item, at: start) }
        #expect(batching.target == 4)
        #expect(written(batching.take(at: start)) == [1, 2, 3, 4])
        #expect(written(batching.take(at: start)) == [5, 6])
    }
}

/// A batch refused for its data is bisected down to its bad item; other errors fail it whole.
@Suite struct BisectionTests {
    struct Refused: Error {}

    @Test func oneBadItemFailsOnlyItselfAndTheRestIsWritten() async {
        let calls = Mutex([[Int]]())
        let results = await sendBisecting(Array(1...8)[...], isAboutTheData: { $0 is Refused }) { (items: [Int]) in
            calls.withLock { $0.append(items) }
            if items.contains(5) { throw Refused() }
            return items.map { $0 * 10 }
        }
        #expect(results.compactMap { try? $0.get() } == [10, 20, 30, 40, 60, 70, 80])
        #expect((try? results[4].get()) == nil)
        #expect(calls.withLock { $0.count } == 7, "8 → 4+4 → 2+2 → 1+1, only the halves holding 5 split")
    }

    @Test func anErrorNotAboutTheDataFailsTheWholeBatchInOneCall() async {
        let calls = Mutex(0)
        let results = await sendBisecting(Array(1...8)[...], isAboutTheData: { $0 is Refused }) { (_: [Int]) -> [Int] in
            calls.withLock { $0 += 1 }
            throw CancellationError()
        }
        #expect(results.count == 8 && results.allSatisfy { (try? $0.get()) == nil })
        #expect(calls.withLock { $0 } == 1)
    }

    @Test func aBatchReturningTheWrongNumberOfOutcomesIsAnError() async {
        let results = await sendBisecting([1][...], isAboutTheData: { _ in false }) { (_: [Int]) in [1, 2] }
        #expect((try? results[0].get()) == nil)
    }
}
