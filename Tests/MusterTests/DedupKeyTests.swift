import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

/// Generated dedup keys: distinct, in the reserved `muster:sent:` namespace the ledger keeps
/// 5 minutes, and a send retried after a lost connection only while its keys are still there.
@Suite struct DedupKeyTests {
    @Test func generatedKeysAreDistinct() {
        let keys = (0..<10_000).map { _ in DedupKeyGenerator.next() }
        #expect(Set(keys).count == keys.count)
        #expect(keys.allSatisfy { $0.utf8.count <= 512 })
    }

    @Test func generatedKeysAreInTheNamespaceTheLedgerKeepsBriefly() throws {
        let key = DedupKeyGenerator.next()
        #expect(key.hasPrefix("muster:sent:"))
        // A caller cannot give one: the muster: prefix is reserved.
        #expect(throws: MusterError.self) { try OutgoingMessage(payload: .emptyObject, dedupKey: key).validate() }
    }

    @Test func aSendIsRetriedOnlyWhileTheLedgerStillHoldsItsKeys() {
        #expect(DedupKeyGenerator.retryHorizon < DedupKeyGenerator.window)
        #expect(RetryPolicy.dedupKeyed.repeatsAfterConnectionLoss(elapsed: .seconds(239)))
        #expect(RetryPolicy.dedupKeyed.repeatsAfterConnectionLoss(elapsed: .seconds(240)))
        #expect(!RetryPolicy.dedupKeyed.repeatsAfterConnectionLoss(elapsed: .seconds(241)))
        #expect(RetryPolicy.idempotent.repeatsAfterConnectionLoss(elapsed: .seconds(3600)))
        #expect(!RetryPolicy.once.repeatsAfterConnectionLoss(elapsed: .zero))
    }
}
