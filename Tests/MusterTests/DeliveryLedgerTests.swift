import Testing
@testable import Muster

/// The worker's one state of held leases: slots, waiting deliveries, lost leases, draining.
@Suite struct DeliveryLedgerTests {
    private func lease(_ id: Int64, _ readCount: Int32 = 1) -> Lease { Lease(messageID: id, readCount: readCount) }

    @Test func deliveriesBeyondTheSlotsWaitAndGetTheSlotOfTheFirstHandlerToReturn() {
        var ledger = DeliveryLedger(slots: 1)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        _ = ledger.received(lease(1))
        _ = ledger.received(lease(2))
        answer = ledger.requestSlot(lease(1))
        #expect(answer == .run)
        answer = ledger.requestSlot(lease(2))
        #expect(answer == .wait)
        #expect(!ledger.handlersIdle)
        actions = ledger.handlerReturned(lease(1))
        #expect(actions.resume == [lease(2): .run])
        #expect(ledger.running == 1 && ledger.settling == 1 && ledger.freeSlots == 0)
        _ = ledger.settled(lease(1))
        _ = ledger.handlerReturned(lease(2))
        #expect(ledger.freeSlots == 1 && ledger.handlersIdle)
        _ = ledger.settled(lease(2))
        #expect(ledger.held == 0 && ledger.settling == 0)
    }

    @Test func drainingHandsBackEveryWaitingDeliveryAndStartsNothingMore() {
        var ledger = DeliveryLedger(slots: 1)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        for id in 1...3 { _ = ledger.received(lease(Int64(id))) }
        answer = ledger.requestSlot(lease(1))
        #expect(answer == .run)
        answer = ledger.requestSlot(lease(2))
        #expect(answer == .wait)
        actions = ledger.drain()
        #expect(actions.resume == [lease(2): .handBack])
        #expect(actions.cancel.isEmpty, "a drain lets running handlers finish")
        answer = ledger.requestSlot(lease(3))
        #expect(answer == .handBack)
        // The running handler's slot goes to nobody once it returns.
        actions = ledger.handlerReturned(lease(1))
        #expect(actions.isEmpty)
        #expect(ledger.handlersIdle)
    }

    @Test func stoppingNowCancelsRunningHandlersAndNoGrantedSlotMayStart() {
        var ledger = DeliveryLedger(slots: 2)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        _ = ledger.received(lease(1))
        _ = ledger.received(lease(2))
        answer = ledger.requestSlot(lease(1))
        #expect(answer == .run)
        answer = ledger.requestSlot(lease(2))
        #expect(answer == .run)
        _ = ledger.handlerReturned(lease(2))
        #expect(ledger.mayStart(lease(1)))
        actions = ledger.stopNow()
        #expect(actions.cancel == [lease(1)], "the settling lease is left to its settle")
        #expect(!ledger.mayStart(lease(1)))
    }

    @Test func aLeaseReadAgainMakesTheOlderOneLostAndCancelsItsHandler() {
        var ledger = DeliveryLedger(slots: 2)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        _ = ledger.received(lease(7, 1))
        answer = ledger.requestSlot(lease(7, 1))
        #expect(answer == .run)
        actions = ledger.received(lease(7, 2))
        #expect(actions.cancel == [lease(7, 1)])
        #expect(ledger.isLost(lease(7, 1)) && !ledger.isLost(lease(7, 2)))
        #expect(ledger.heartbeatLeases == [lease(7, 2)], "a lost lease is not heartbeated")
        #expect(ledger.held == 2, "each delivery keeps its entry until it is settled")
    }

    @Test func lostLeasesCancelRunningHandlersTellWaitingOnesAndSpareSettlingOnes() {
        var ledger = DeliveryLedger(slots: 1)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        for id in 1...3 { _ = ledger.received(lease(Int64(id))) }
        answer = ledger.requestSlot(lease(1))
        #expect(answer == .run)
        _ = ledger.handlerReturned(lease(1))       // settling
        answer = ledger.requestSlot(lease(2))
        #expect(answer == .run)
        answer = ledger.requestSlot(lease(3))
        #expect(answer == .wait)
        actions = ledger.markLost([lease(1), lease(2), lease(3), lease(99)])
        #expect(actions.cancel == [lease(2)])
        #expect(actions.resume == [lease(3): .lost])
        #expect(!ledger.isLost(lease(1)), "a settling lease may just have been acked")
        answer = ledger.requestSlot(lease(3))
        #expect(answer == .lost)
        #expect(ledger.markLost([lease(2)]).isEmpty, "lost once")
    }

    @Test func settlingARunningLeaseFreesItsSlotFirst() {
        var ledger = DeliveryLedger(slots: 1)
        var answer: DeliveryLedger.SlotAnswer
        var actions: DeliveryLedger.Actions
        _ = ledger.received(lease(1))
        _ = ledger.received(lease(2))
        answer = ledger.requestSlot(lease(1))
        #expect(answer == .run)
        answer = ledger.requestSlot(lease(2))
        #expect(answer == .wait)
        actions = ledger.settled(lease(1))
        #expect(actions.resume == [lease(2): .run])
        #expect(ledger.held == 1 && ledger.running == 1 && ledger.settling == 0)
    }
}
