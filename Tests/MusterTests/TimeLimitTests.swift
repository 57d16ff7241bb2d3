import Synchronization
import Testing
@testable import Muster

/// A handler run ends with whichever comes first of its return, its time limit and a
/// cancellation; a handler that ignores cancellation is abandoned, not waited for.
@Suite struct TimeLimitTests {
    struct Boom: Error {}

    @Test func theFirstEndDecidesAndLaterOnesAreIgnored() {
        var run = HandlerRunEnd<Int>()
        #expect(run.result == nil)
        let first = run.record(.timedOut(.seconds(2)))
        let late = run.record(.returned(.success(1)))
        let cancelled = run.record(.cancelled)
        #expect(first)
        #expect(!late, "a handler returning after its limit changes nothing")
        #expect(!cancelled)
        #expect(throws: TimeLimitExceeded.self) { try run.result?.get() }
    }

    @Test func aHandlerThatReturnsInTimeGivesItsResult() async throws {
        #expect(try await withTimeLimit(.seconds(600)) { 42 } == 42)
        await #expect(throws: Boom.self) { try await withTimeLimit(nil) { () async throws -> Int in throw Boom() } }
    }

    @Test func aHandlerThatIgnoresCancellationIsAbandonedAtItsTimeLimit() async {
        // The handler never returns and never looks at cancellation: only abandoning it
        // lets the call end.
        await #expect(throws: TimeLimitExceeded.self) {
            try await withTimeLimit(.milliseconds(10)) {
                await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
            }
        }
    }

    @Test func theCancellerGivenAtTheStartEndsTheRunAtOnce() async {
        let canceller = Mutex<(@Sendable () -> Void)?>(nil)
        await #expect(throws: CancellationError.self) {
            try await withTimeLimit(nil, started: { cancel in
                canceller.withLock { $0 = cancel }
                return true
            }) {
                // Cancel from inside, as a heartbeat finding the lease lost would from outside.
                canceller.withLock { $0 }?()
                await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
            }
        }
    }

    @Test func aRunRefusedAtItsStartThrowsCancellation() async {
        let ran = Mutex(false)
        await #expect(throws: CancellationError.self) {
            try await withTimeLimit(nil, started: { _ in false }) { ran.withLock { $0 = true } }
        }
    }

    @Test func cancellingTheCallerEndsTheRun() async {
        let caller = Task {
            try await withTimeLimit(nil) { await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in } }
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}
