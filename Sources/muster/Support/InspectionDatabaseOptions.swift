import ArgumentParser
import Foundation
import Muster

/// The database options of the read-only inspection commands (`status`, `workers`,
/// `executions list`, `execution show`, `dead-letters list|show`, `queue list|show`): the
/// shared ones, plus a read URL that sends their queries to a standby. Commands that write
/// never take it.
struct InspectionDatabaseOptions: ParsableArguments {
    @OptionGroup var connection: DatabaseOptions

    @Option(name: .customLong("read-url"), help: ArgumentHelp(
        "Run this read-only command on another server, e.g. a streaming standby (default: $MUSTER_READ_URL, else the database URL). Its figures lag the primary by the replication delay.",
        valueName: "url"
    ))
    var readURL: String?

    /// The schema option of the shared options.
    func schemaName() throws -> SchemaName { try connection.schemaName() }

    /// Runs `body` with a client on the read URL when one is set, else on the database URL.
    func withClient<T>(_ body: (MusterClient) async throws -> T) async throws -> T {
        guard let read = try readDatabase() else { return try await connection.withClient(body) }
        return try await connection.withClient(database: read, body)
    }

    /// The read URL (the option, else $MUSTER_READ_URL), or nil when reads go to the database URL.
    func readDatabase() throws -> DatabaseConfiguration? {
        let environment = ProcessInfo.processInfo.environment
        return try [readURL, environment["MUSTER_READ_URL"]].compactMap({ $0 }).first(where: { !$0.isEmpty }).map(DatabaseConfiguration.init)
    }
}
