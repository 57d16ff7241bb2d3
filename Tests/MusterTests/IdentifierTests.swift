import Muster
import Testing
@testable import MusterPostgres

@Suite struct IdentifierTests {
    @Test(arguments: ["muster", "jobs_2", "_private", "A", String(repeating: "x", count: 63)])
    func plainIdentifiersAreAccepted(_ name: String) throws {
        let identifier = try #require(SQLIdentifier(name))
        #expect(identifier.quoted == "\"\(name)\"")
        #expect(try SchemaName(name).name == name)
    }

    @Test(arguments: [
        "", "x; drop table y", "muster\"; drop schema public cascade; --", "a b", "9lives",
        "naïve", "schema.table", "x'y", String(repeating: "x", count: 64), "tab\there", "new\nline",
    ])
    func injectionAndOddNamesAreRefused(_ name: String) {
        #expect(SQLIdentifier(name) == nil)
        let error = #expect(throws: MusterError.self) { try SchemaName(name) }
        #expect(error?.code == .invalidArgument)
    }
}
