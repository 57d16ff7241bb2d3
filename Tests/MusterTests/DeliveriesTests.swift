import Foundation
import Synchronization
import Testing
@testable import Muster

/// The shell around the ledger: deliveries waiting for a slot are resumed by the events that
/// free one or stop the worker.
@Suite struct DeliveriesTests {
    private func message(_ id: Int64) -> ReceivedMessage {
        ReceivedMessage(
            id: id, readCount: 1, attempt: 1, payload: .emptyObject, headers: [:], task: "t", executionID: nil, priority: 0,
            enqueuedAt: Date(), leaseExpiresAt: Date(), errorCount: 0, lastError: nil
        )
    }

    /// Deliveries with `slots` slots that read messages 1 and 2; the first holds a slot.
    private func readTwo(slots: Int) async -> (Deliveries, first: ReceivedMessage, second: ReceivedMessage) {
        let deliveries = Deliveries(slots: slots)
        let (first, second) = (message(1), message(2))
        deliveries.received(first)
        deliveries.received(second)
        #expect(await deliveries.acquireSlot(for: first.lease) == .run)
        return (deliveries, first, second)
    }

    @Test func aDeliveryWaitingForASlotIsHandedBackWhenTheWorkerDrains() async {
        let (deliveries, first, second) = await readTwo(slots: 1)
        let started = deliveries.running(first.lease, cancel: {})
        #expect(started)
        async let waiting = deliveries.acquireSlot(for: second.lease)
        await deliveries.wait { $0.queued.contains(second.lease) }
        deliveries.drain()
        #expect(await waiting == .handBack)
        #expect(deliveries.takeUnclaimed().isEmpty, "both deliveries claimed their message")
    }

    @Test func aReturningHandlerPassesItsSlotToTheFirstWaitingDelivery() async {
        let (deliveries, first, second) = await readTwo(slots: 1)
        async let waiting = deliveries.acquireSlot(for: second.lease)
        await deliveries.wait { $0.queued.contains(second.lease) }
        #expect(!deliveries.handlerReturned(first.lease), "another delivery is about to run")
        #expect(await waiting == .run)
    }

    @Test func stoppingNowCancelsRunningHandlersAndRefusesOnesAboutToStart() async {
        let (deliveries, first, second) = await readTwo(slots: 2)
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
