import Testing
@testable import MusterPostgres

@Suite struct SQLStateTests {
    @Test(arguments: [
        ("08000", PostgresError.Kind.connectionLost), ("08006", .connectionLost), ("08003", .connectionLost),
        ("57P01", .connectionLost), ("57P02", .connectionLost), ("57P03", .connectionLost),
        ("23505", .uniqueViolation), ("40001", .serializationFailure), ("40P01", .deadlockDetected),
        ("57014", .queryCanceled), ("42P01", .undefinedTable), ("3F000", .undefinedSchema),
        ("42883", .undefinedFunction), ("23503", .server), ("42601", .server),
    ])
    func sqlStatesAreClassified(_ sqlState: String, _ kind: PostgresError.Kind) {
        #expect(PostgresError.Kind.classify(sqlState: sqlState) == kind)
    }

    @Test func missingSQLStateIsAServerError() {
        #expect(PostgresError.Kind.classify(sqlState: nil) == .server)
    }

    @Test func descriptionLeavesOutDetailButDebugDescriptionHasIt() {
        let error = PostgresError.server(
            sqlState: "23505", message: "duplicate key value violates unique constraint \"t_pkey\"",
            detail: "Key (id)=(secret-value) already exists.", constraint: "t_pkey"
        )
        #expect(error.isConnectionLost == false)
        #expect(!error.description.contains("secret-value"))
        #expect(String(reflecting: error).contains("secret-value"))
        #expect(error.description.contains("23505"))
    }
}
