import Foundation
import Testing
@testable import Muster

/// How long a redelivered orchestration message waits for a claim another holder has.
@Suite struct SnoozeTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test func waitsUntilTheClaimWouldExpire() {
        let snooze = Snooze.claimHeld(by: "w1", until: now.addingTimeInterval(10), ttl: .seconds(30), now: now)
        #expect(snooze.delay == .milliseconds(10_100))
        #expect(snooze.reason.contains("held by w1"))
    }

    @Test func waitsAtLeastASecondForAClaimJustExpired() {
        #expect(Snooze.claimHeld(by: "w1", until: now.addingTimeInterval(-5), ttl: .seconds(30), now: now).delay == .seconds(1))
        #expect(Snooze.claimHeld(by: "w1", until: now.addingTimeInterval(0.2), ttl: .seconds(30), now: now).delay == .seconds(1))
    }

    @Test func waitsAtMostOneClaimLifetimeWhateverTheClocksSay() {
        #expect(Snooze.claimHeld(by: "w1", until: now.addingTimeInterval(3600), ttl: .seconds(30), now: now).delay == .seconds(30))
        #expect(Snooze.claimHeld(by: "w1", until: now.addingTimeInterval(3600), ttl: .milliseconds(200), now: now).delay == .seconds(1))
    }
}

/// A handler's own snooze.
@Suite struct HandlerSnoozeTests {
    @Test func delaysOutsideWhatTheQueueTakesAreClamped() {
        #expect(Snooze(for: .seconds(-5)).delay == .zero)
        #expect(Snooze(for: .seconds(400 * 86_400)).delay == .seconds(366 * 86_400))
        #expect(Snooze(for: .seconds(30)).delay == .seconds(30))
    }
}

/// Which errors a starting worker waits out, and which it reports at once.
@Suite struct ServerUnavailableTests {
    @Test func outagesAreWorthWaitingFor() {
        let waits = [
            MusterError(.connectionLost, "server closed the connection unexpectedly"),
            MusterError(.connectFailed, "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused"),
            MusterError(.connectFailed, "FATAL:  the database system is starting up"),
            MusterError(.timeout, "no connection became free within 10.0 seconds"),
            MusterError(.database, "terminating connection due to administrator command", sqlState: "57P01"),
            MusterError(.database, "the database system is shutting down", sqlState: "57P03"),
            MusterError(.database, "sorry, too many clients already", sqlState: "53300"),
            MusterError(.database, "cannot execute INSERT in a read-only transaction", sqlState: "25006"),
        ]
        for error in waits { #expect(error.isServerUnavailable, "\(error)") }
    }

    @Test func refusalsThatWaitingCannotFixAreNot() {
        let refusals = [
            MusterError(.connectFailed, "FATAL:  password authentication failed for user \"app\""),
            MusterError(.connectFailed, "FATAL:  database \"nope\" does not exist"),
            MusterError(.connectFailed, "FATAL:  no pg_hba.conf entry for host \"10.0.0.1\""),
            MusterError(.schemaNotInstalled, "schema muster is not installed"),
            MusterError(.unknownQueue, "queue jobs does not exist", sqlState: "MU001"),
            MusterError(.invalidArgument, "limit must be between 1 and 1000"),
            MusterError(.database, "permission denied for table messages", sqlState: "42501"),
        ]
        for error in refusals { #expect(!error.isServerUnavailable, "\(error)") }
    }
}
