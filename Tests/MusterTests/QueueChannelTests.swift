import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct QueueChannelTests {
    @Test func channelNamesFoldOddCharactersAndFitAnIdentifier() {
        #expect(QueueChannel.name(schema: "muster", queue: "img-resize.v2") == "muster_muster_img_resize_v2")
        let long = QueueChannel.name(schema: String(repeating: "s", count: 40), queue: String(repeating: "q", count: 64))
        #expect(long.utf8.count == 63)
        #expect(QueueChannel.identifier(schema: .default, queue: "a.b-c").name == "muster_muster_a_b_c")
    }
}
