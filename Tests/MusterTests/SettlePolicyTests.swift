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

/// The settler's step for each delivery outcome.
@Suite struct SettleStepTests {
    let policy = SettlePolicy(maxAttempts: 3, backoff: RetryBackoff(base: .milliseconds(500), max: .seconds(4)))

    private func describe(_ step: SettlePolicy.Step) -> String {
        switch step {
        case .complete(.ack): "ack"
        case .complete: "complete"
        case .decide(let decision, let error): "\(decision) \(error)"
        case .handBack: "hand back"
        case .forget: "forget"
        }
    }

    @Test func eachOutcomeHasItsStep() {
        let step = { (outcome: DeliveryOutcome, attempt: Int, handedBack: Int) in
            self.describe(self.policy.step(for: outcome, attempt: attempt, handedBack: handedBack, unit: 0.5))
        }
        #expect(step(.succeeded(.ack), 1, 0) == "ack")
        #expect(step(.failed("boom", retryable: true), 1, 0) == "retry(after: 0.25 seconds) boom")
        #expect(step(.failed("boom", retryable: true), 3, 0) == #"deadLetter(reason: "max_attempts") boom"#)
        #expect(step(.failed("bad", retryable: false), 1, 0) == #"deadLetter(reason: "non_retryable") bad"#)
        #expect(step(.snoozed(Snooze(for: .seconds(7), reason: "later")), 1, 0) == "snooze(for: 7.0 seconds) later")
        #expect(step(.settleRefused("no"), 1, 0) == "snooze(for: 1.0 seconds) settling the result failed: no")
        #expect(step(.settleRefused("no"), 1, 3) == "retry(after: 0.25 seconds) settling the result failed: no")
        #expect(step(.interrupted, 2, 0) == "hand back")
        #expect(step(.leaseLost, 1, 0) == "forget")
    }
}
