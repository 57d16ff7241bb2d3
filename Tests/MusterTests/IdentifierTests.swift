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

/// PostgreSQL's own schemas are refused: `pg_dump` leaves their contents out, so Muster's
/// tables there would silently miss every backup.
@Suite struct ReservedSchemaTests {
    @Test(arguments: ["information_schema", "INFORMATION_SCHEMA", "pg_catalog", "pg_toast", "pg_muster", "PG_temp_1"])
    func reservedSchemasAreRefused(_ name: String) {
        let error = #expect(throws: MusterError.self) { try SchemaName(name) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("reserved") == true)
    }

    @Test(arguments: ["pgmuster", "my_pg_schema", "information"])
    func namesThatOnlyLookAlikeAreAccepted(_ name: String) throws {
        #expect(try SchemaName(name).name == name)
    }
}
