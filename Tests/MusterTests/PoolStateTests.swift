import Testing
@testable import MusterPostgres

@Suite struct PoolStateTests {
    @Test func opensUpToTheLimitThenQueues() {
        var pool = PoolState<String, Int>(maxSize: 2)
        guard case .open = pool.acquire(1), case .open = pool.acquire(2) else { Issue.record("expected two opens"); return }
        guard case .wait = pool.acquire(3) else { Issue.record("third should wait"); return }
        #expect(pool.total == 2)
        #expect(pool.waiters == [3])
    }

    @Test func releasedConnectionGoesToTheFirstWaiter() {
        var pool = PoolState<String, Int>(maxSize: 1)
        _ = pool.acquire(1)
        _ = pool.acquire(2)
        _ = pool.acquire(3)
        guard case .handOver("c1", to: 2) = pool.release("c1", healthy: true) else { Issue.record("expected hand-over to 2"); return }
        #expect(pool.waiters == [3])
        #expect(pool.total == 1)
    }

    @Test func deadConnectionIsNeverReusedAndItsSlotOpensAFreshOne() {
        var pool = PoolState<String, Int>(maxSize: 1)
        _ = pool.acquire(1)
        _ = pool.acquire(2)
        guard case .openFor(2) = pool.release("dead", healthy: false) else { Issue.record("expected a fresh open for 2"); return }
        #expect(pool.idle.isEmpty)
        #expect(pool.total == 1)
        guard case .none = pool.release("fresh", healthy: true) else { Issue.record("nobody waits"); return }
        guard case .use("fresh") = pool.acquire(3) else { Issue.record("expected the idle fresh connection"); return }
    }

    @Test func deadConnectionWithoutWaitersFreesItsSlot() {
        var pool = PoolState<String, Int>(maxSize: 1)
        _ = pool.acquire(1)
        _ = pool.release("dead", healthy: false)
        #expect(pool.total == 0)
        guard case .open = pool.acquire(2) else { Issue.record("slot should be free"); return }
    }

    @Test func failedOpenFreesTheSlot() {
        var pool = PoolState<String, Int>(maxSize: 1)
        _ = pool.acquire(1)
        _ = pool.openFailed()
        #expect(pool.total == 0)
    }

    @Test func waiterThatGaveUpIsRemovedOnce() {
        var pool = PoolState<String, Int>(maxSize: 1)
        _ = pool.acquire(1)
        _ = pool.acquire(2)
        let removed = pool.removeWaiter(2)
        let removedAgain = pool.removeWaiter(2)
        #expect(removed)
        #expect(!removedAgain)
        guard case .none = pool.release("c1", healthy: true) else { Issue.record("no waiter left"); return }
        #expect(pool.idle == ["c1"])
    }
}
