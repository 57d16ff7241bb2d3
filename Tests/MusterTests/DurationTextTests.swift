import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("2h", .seconds(7200)),
        ("7d", .seconds(604_800)), ("1h30m", .seconds(5400)), ("1.5s", .milliseconds(1500)), ("10", .seconds(10)),
    ])
    func durationsParse(_ text: String, _ expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "-5s", "5x", "s", "1 s", "abc", "5s;drop", "99999999999999999999", "1e300", "999999999999999999d"])
    func badDurationsAreRefused(_ text: String) {
        let error = #expect(throws: MusterError.self) { try DurationText.parse(text) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func durationsFormatExactly() {
        #expect(DurationText.format(.seconds(30)) == "30s")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(604_800)) == "7d")
    }
}
