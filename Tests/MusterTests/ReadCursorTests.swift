import Testing
@testable import Muster

/// Where a worker's reads start: from the front first, then after the previous read; from the
/// front again at least every second, and less often when reading from the front is slow.
@Suite struct ReadCursorTests {
    let t0 = ContinuousClock.now
    let somewhere = ReadPosition(readyPriority: 0, readyID: 41, dueAfter: "2026-11-29 12:00:00+00")
    let further = ReadPosition(readyPriority: 0, readyID: 90, dueAfter: "2026-11-29 12:00:01+00")

    @Test func theFirstReadStartsFromTheFront() {
        #expect(ReadCursor().start(at: t0) == nil)
    }

    @Test func afterAReadFromTheFrontReadsStartWhereTheLastEnded() {
        var cursor = ReadCursor()
        cursor.record(startedFrom: nil, at: t0, took: .milliseconds(2), next: somewhere)
        #expect(cursor.start(at: t0 + .milliseconds(10)) == somewhere)
        cursor.record(startedFrom: somewhere, at: t0 + .milliseconds(10), took: .milliseconds(1), next: further)
        #expect(cursor.start(at: t0 + .milliseconds(20)) == further)
    }

    @Test func aFastReaderReadsFromTheFrontEverySecond() {
        var cursor = ReadCursor()
        cursor.record(startedFrom: nil, at: t0, took: .milliseconds(2), next: somewhere)
        #expect(cursor.start(at: t0 + .milliseconds(999)) == somewhere)
        #expect(cursor.start(at: t0 + .seconds(1)) == nil)
    }

    @Test func aSlowReadFromTheFrontComesAtMostTwoPercentOfTheTimeAndAtLeastEveryThirtySeconds() {
        var cursor = ReadCursor()
        cursor.record(startedFrom: nil, at: t0, took: .milliseconds(200), next: somewhere)
        #expect(cursor.start(at: t0 + .milliseconds(9_999)) == somewhere)
        #expect(cursor.start(at: t0 + .seconds(10)) == nil)
        cursor.record(startedFrom: nil, at: t0 + .seconds(10), took: .seconds(5), next: further)
        #expect(cursor.start(at: t0 + .seconds(39)) == further)
        #expect(cursor.start(at: t0 + .seconds(40)) == nil)
    }

    @Test func aFailedReadKeepsThePositionAndTheSchedule() {
        var cursor = ReadCursor()
        cursor.record(startedFrom: nil, at: t0, took: .milliseconds(2), next: somewhere)
        cursor.record(startedFrom: somewhere, at: t0 + .milliseconds(5), took: .seconds(3), next: nil)
        #expect(cursor.start(at: t0 + .milliseconds(500)) == somewhere)
        // A failed read from the front is not a read from the front: the next one is still due.
        var fresh = ReadCursor()
        fresh.record(startedFrom: nil, at: t0, took: .milliseconds(2), next: nil)
        #expect(fresh.start(at: t0 + .milliseconds(1)) == nil)
    }
}
