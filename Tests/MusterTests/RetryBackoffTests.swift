import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct RetryBackoffTests {
    @Test func ceilingDoublesUpToTheMax() {
        let backoff = RetryBackoff(base: .seconds(1), max: .seconds(10))
        #expect((1...6).map { backoff.ceiling(afterAttempt: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
        #expect(backoff.ceiling(afterAttempt: 1000) == .seconds(10))
    }

    @Test func delayIsFullJitterWithinTheCeiling() {
        let backoff = RetryBackoff(base: .seconds(1), max: .seconds(10))
        #expect(backoff.delay(afterAttempt: 3, unit: 0) == .zero)
        #expect(backoff.delay(afterAttempt: 3, unit: 0.5) == .seconds(2))
        for _ in 0..<100 { #expect(backoff.delay(afterAttempt: 4) <= .seconds(8)) }
    }
}
