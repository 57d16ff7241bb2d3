import Testing
@testable import Muster

/// The worker's one state of held leases: slots, waiting deliveries, lost leases, draining.
@Suite struct DeliveryLedgerTests {
    private func lease(_ id: Int64, _ readCount: Int32 = 1) -> Lease { Lease(messageID: id, readCount: readCount) }

    /// A ledger with `slots` handler slots that has read the messages `ids` (first reads).
    private func ledger(slots: Int, read ids: Int64...) -> DeliveryLedger {
        var ledger = DeliveryLedger(slots: slots)
        for id in ids { _ = ledger.received(lease(id)) }
        return ledger
    }

    /// Asks for a slot for each message in turn; returns the answers.
    private func request(_ ids: Int64..., in ledger: inout DeliveryLedger) -> [DeliveryLedger.SlotAnswer] {
        ids.map { ledger.requestSlot(lease($0)) }
    }

    @Test func deliveriesBeyondTheSlotsWaitAndGetTheSlotOfTheFirstHandlerToReturn() {
        var ledger = ledger(slots: 1, read: 1, 2)
        let answers = request(1, 2, in: &ledger)
        #expect(answers == [.run, .wait])
        #expect(!ledger.handlersIdle)
        let returned = ledger.handlerReturned(lease(1))
        #expect(returned.resume == [lease(2): .run])
        #expect(ledger.running == 1 && ledger.settling == 1 && ledger.freeSlots == 0)
        _ = ledger.settled(lease(1))
        _ = ledger.handlerReturned(lease(2))
        #expect(ledger.freeSlots == 1 && ledger.handlersIdle)
        _ = ledger.settled(lease(2))
        #expect(ledger.held == 0 && ledger.settling == 0)
    }

    @Test func drainingHandsBackEveryWaitingDeliveryAndStartsNothingMore() {
        var ledger = ledger(slots: 1, read: 1, 2, 3)
        let answers = request(1, 2, in: &ledger)
        #expect(answers == [.run, .wait])
        let drained = ledger.drain()
        #expect(drained.resume == [lease(2): .handBack])
        #expect(drained.cancel.isEmpty, "a drain lets running handlers finish")
        let late = request(3, in: &ledger)
        #expect(late == [.handBack])
        // The running handler's slot goes to nobody once it returns.
        let returned = ledger.handlerReturned(lease(1))
        #expect(returned.isEmpty)
        #expect(ledger.handlersIdle)
    }

    @Test func stoppingNowCancelsRunningHandlersAndNoGrantedSlotMayStart() {
        var ledger = ledger(slots: 2, read: 1, 2)
        let answers = request(1, 2, in: &ledger)
        #expect(answers == [.run, .run])
        _ = ledger.handlerReturned(lease(2))
        #expect(ledger.mayStart(lease(1)))
        let stopped = ledger.stopNow()
        #expect(stopped.cancel == [lease(1)], "the settling lease is left to its settle")
        #expect(!ledger.mayStart(lease(1)))
    }

    @Test func aLeaseReadAgainMakesTheOlderOneLostAndCancelsItsHandler() {
        var ledger = ledger(slots: 2, read: 7)
        let answers = request(7, in: &ledger)
        #expect(answers == [.run])
        let again = ledger.received(lease(7, 2))
        #expect(again.cancel == [lease(7, 1)])
        #expect(ledger.isLost(lease(7, 1)) && !ledger.isLost(lease(7, 2)))
        #expect(ledger.heartbeatLeases == [lease(7, 2)], "a lost lease is not heartbeated")
        #expect(ledger.held == 2, "each delivery keeps its entry until it is settled")
    }

    @Test func lostLeasesCancelRunningHandlersTellWaitingOnesAndSpareSettlingOnes() {
        var ledger = ledger(slots: 1, read: 1, 2, 3)
        _ = request(1, in: &ledger)
        _ = ledger.handlerReturned(lease(1))       // settling
        let answers = request(2, 3, in: &ledger)
        #expect(answers == [.run, .wait])
        let lost = ledger.markLost([lease(1), lease(2), lease(3), lease(99)])
        #expect(lost.cancel == [lease(2)])
        #expect(lost.resume == [lease(3): .lost])
        #expect(!ledger.isLost(lease(1)), "a settling lease may just have been acked")
        let late = request(3, in: &ledger)
        #expect(late == [.lost])
        let again = ledger.markLost([lease(2)])
        #expect(again.isEmpty, "lost once")
    }

    @Test func settlingARunningLeaseFreesItsSlotFirst() {
        var ledger = ledger(slots: 1, read: 1, 2)
        let answers = request(1, 2, in: &ledger)
        #expect(answers == [.run, .wait])
        let settled = ledger.settled(lease(1))
        #expect(settled.resume == [lease(2): .run])
        #expect(ledger.held == 1 && ledger.running == 1 && ledger.settling == 0)
    }
}
