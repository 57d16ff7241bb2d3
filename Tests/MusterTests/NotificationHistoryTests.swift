import Testing
@testable import Muster

/// A wake-up is never lost between a read and the wait after it: a token taken before the
/// read sees any notification (or reconnect) that came after it.
@Suite struct NotificationHistoryTests {
    @Test func aNotificationAfterTheTokenMovesItsChannelOnly() {
        var history = NotificationHistory()
        let jobs = history.token(for: "jobs")
        let mail = history.token(for: "mail")
        history.notified("jobs")
        #expect(history.hasMoved("jobs", since: jobs))
        #expect(!history.hasMoved("mail", since: mail))
    }

    @Test func aNotificationBeforeTheTokenDoesNotWakeTheWaitAfterIt() {
        var history = NotificationHistory()
        history.notified("jobs")
        let token = history.token(for: "jobs")
        #expect(!history.hasMoved("jobs", since: token), "the read after the token saw that send already")
    }

    @Test func aReconnectMovesEveryChannelBecauseAnythingMayHaveBeenMissed() {
        var history = NotificationHistory()
        let jobs = history.token(for: "jobs")
        let never = history.token(for: "never-notified")
        history.reconnected()
        #expect(history.hasMoved("jobs", since: jobs))
        #expect(history.hasMoved("never-notified", since: never))
    }
}
