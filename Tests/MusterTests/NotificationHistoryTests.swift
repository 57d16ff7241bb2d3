import Foundation
import Synchronization
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

/// The shell around the ledger: deliveries waiting for a slot are resumed by the events that
/// free one or stop the worker.
@Suite struct DeliveriesTests {
    private func message(_ id: Int64) -> ReceivedMessage {
        ReceivedMessage(
            id: id, readCount: 1, attempt: 1, payload: .emptyObject, headers: [:], task: "t", executionID: nil, priority: 0,
            enqueuedAt: Date(), leaseExpiresAt: Date(), errorCount: 0, lastError: nil
        )
    }

    @Test func aDeliveryWaitingForASlotIsHandedBackWhenTheWorkerDrains() async {
        let deliveries = Deliveries(slots: 1)
        let (first, second) = (message(1), message(2))
        deliveries.received(first)
        deliveries.received(second)
        #expect(await deliveries.acquireSlot(for: first.lease) == .run)
        let started = deliveries.running(first.lease, cancel: {})
        #expect(started)
        async let waiting = deliveries.acquireSlot(for: second.lease)
        await deliveries.wait { $0.queued.contains(second.lease) }
        deliveries.drain()
        #expect(await waiting == .handBack)
        #expect(deliveries.takeUnclaimed().isEmpty, "both deliveries claimed their message")
    }

    @Test func aReturningHandlerPassesItsSlotToTheFirstWaitingDelivery() async {
        let deliveries = Deliveries(slots: 1)
        let (first, second) = (message(1), message(2))
        deliveries.received(first)
        deliveries.received(second)
        #expect(await deliveries.acquireSlot(for: first.lease) == .run)
        async let waiting = deliveries.acquireSlot(for: second.lease)
        await deliveries.wait { $0.queued.contains(second.lease) }
        #expect(!deliveries.handlerReturned(first.lease), "another delivery is about to run")
        #expect(await waiting == .run)
    }

    @Test func stoppingNowCancelsRunningHandlersAndRefusesOnesAboutToStart() async {
        let deliveries = Deliveries(slots: 2)
        let (first, second) = (message(1), message(2))
        deliveries.received(first)
        deliveries.received(second)
        #expect(await deliveries.acquireSlot(for: first.lease) == .run)
        #expect(await deliveries.acquireSlot(for: second.lease) == .run)
        let cancelled = Flag()
        let started = deliveries.running(first.lease, cancel: { cancelled.raise() })
        #expect(started)
        deliveries.stopNow()
        #expect(cancelled.isRaised)
        let late = deliveries.running(second.lease, cancel: {})
        #expect(!late, "granted a slot, but told to stop before it started")
    }
}

/// A flag set from a `@Sendable` closure.
private final class Flag: Sendable {
    private let raised = Atomic(false)
    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}
