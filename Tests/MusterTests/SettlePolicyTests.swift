import Testing
@testable import Muster

@Suite struct SettlePolicyTests {
    let policy = SettlePolicy(maxAttempts: 3, backoff: RetryBackoff(base: .milliseconds(500), max: .seconds(4)))

    @Test func retryableFailuresBackOffUntilTheLastAttemptThenDeadLetter() {
        #expect(policy.afterFailure(attempt: 1, retryable: true, unit: 0.5) == .retry(after: .milliseconds(250)))
        #expect(policy.afterFailure(attempt: 2, retryable: true, unit: 0.5) == .retry(after: .milliseconds(500)))
        #expect(policy.afterFailure(attempt: 3, retryable: true, unit: 0.5) == .deadLetter(reason: "max_attempts"))
    }

    @Test func aNonRetryableFailureIsDeadLetteredAtOnce() {
        #expect(policy.afterFailure(attempt: 1, retryable: false) == .deadLetter(reason: "non_retryable"))
    }

    @Test func aRefusedSettleSnoozesWithAGrowingBackoffOfAtLeastASecond() {
        #expect(policy.afterRefusedSettle(attempt: 1, handedBack: 0) == .snooze(for: .seconds(1)))
        #expect(policy.afterRefusedSettle(attempt: 1, handedBack: 1) == .snooze(for: .seconds(1)))
        #expect(policy.afterRefusedSettle(attempt: 1, handedBack: 2) == .snooze(for: .seconds(2)))
        let instant = SettlePolicy(maxAttempts: 3, backoff: RetryBackoff(base: .zero, max: .zero))
        #expect(instant.afterRefusedSettle(attempt: 1, handedBack: 2) == .snooze(for: .seconds(1)), "never spins")
    }

    @Test func aRefusalThatLastsCountsAsAFailureAfterMaxAttemptsHandBacks() {
        #expect(policy.afterRefusedSettle(attempt: 1, handedBack: 3, unit: 0) == .retry(after: .zero))
        #expect(policy.afterRefusedSettle(attempt: 3, handedBack: 5) == .deadLetter(reason: "max_attempts"))
    }
}
