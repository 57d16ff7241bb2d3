import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct DedupKeyTests {
    @Test func generatedKeysAreDistinct() {
        let keys = (0..<10_000).map { _ in DedupKeyGenerator.next() }
        #expect(Set(keys).count == keys.count)
        #expect(keys.allSatisfy { $0.utf8.count <= 512 })
    }
}
