import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct ErrorTranslationTests {
    @Test(arguments: ["42P01", "3F000", "42883"])
    func missingMusterObjectsMeanRunMigrate(_ sqlState: String) throws {
        let error = MusterError(
            PostgresError.server(sqlState: sqlState, message: "relation \"muster.messages\" does not exist"),
            schema: try SchemaName("jobs")
        )
        #expect(error.code == .schemaNotInstalled)
        #expect(error.description.contains("muster migrate --schema jobs"))
    }

    @Test func serverDetailStaysOutOfTheDescription() throws {
        let error = MusterError(
            PostgresError.server(sqlState: "23505", message: "duplicate key", detail: "Key (k)=(private) exists", constraint: "c"),
            schema: .default
        )
        #expect(error.code == .database)
        #expect(error.sqlState == "23505")
        #expect(!error.description.contains("private"))
        #expect(String(reflecting: error).contains("private"))
    }
}
