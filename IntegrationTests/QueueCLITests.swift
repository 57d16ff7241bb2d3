import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// The queue commands of the `muster` binary, as a script or an on-call engineer uses them.
@Suite struct QueueCLITests {
    private func muster(_ arguments: [String], schema: SchemaName) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(arguments + ["--database-url", try TestDatabase.url(), "--schema", schema.name])
    }

    @Test func sendReadAckRoundTripAndLostLeaseExitsThree() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "cli-q", "--visibility-timeout", "30s"], schema: schema).status == 0)
            let sent = try await muster(["send", "cli-q", #"{"hello": "world"}"#, "--task", "greet", "--dedup-key", "k1"], schema: schema)
            #expect(sent.status == 0)
            let id = try #require(Int64(sent.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let again = try await muster(["send", "cli-q", #"{"hello": "world"}"#, "--dedup-key", "k1"], schema: schema)
            #expect(again.output.contains("duplicate"))

            let read = try await muster(["read", "cli-q", "--json"], schema: schema)
            #expect(read.status == 0)
            let leases = try JSONSerialization.jsonObject(with: Data(read.output.utf8)) as? [[String: Any]]
            #expect(leases?.first?["id"] as? Int == Int(id))
            #expect(leases?.first?["readCount"] as? Int == 1)
            #expect((leases?.first?["payload"] as? [String: String])?["hello"] == "world")

            try await TimeTravel(schema: schema).expireLeases(on: "cli-q")
            _ = try await muster(["read", "cli-q"], schema: schema)  // re-delivers: read count 2
            let stale = try await muster(["ack", "cli-q", "\(id)", "--read-count", "1"], schema: schema)
            #expect(stale.status == 3)
            #expect(stale.output.contains("lease lost"))
            let fresh = try await muster(["ack", "cli-q", "\(id)", "--read-count", "2"], schema: schema)
            #expect(fresh.status == 0)

            let list = try await muster(["queue", "list", "--json"], schema: schema)
            let queues = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]
            #expect(queues?.first?["name"] as? String == "cli-q")
        }
    }

    @Test func badInputExitsTwoWithOneLine() async throws {
        try await TestDatabase.withSchema { schema in
            #expect(try await muster(["migrate"], schema: schema).status == 0)
            #expect(try await muster(["queue", "create", "q"], schema: schema).status == 0)
            for arguments in [["send", "q", "{not json"], ["send", "nosuchqueue", "{}"], ["read", "q", "--limit", "0"],
                              ["send", "q", "{}", "--delay", "soon"], ["queue", "create", "bad name"]] {
                let result = try await muster(arguments, schema: schema)
                #expect(result.status == 2, "\(arguments): \(result.output)")
                #expect(!result.output.isEmpty)
            }
            let count = try await TestDatabase.query("SELECT count(*) FROM \(schema.quoted).messages").single().decode(0, as: Int.self)
            #expect(count == 0)
        }
    }
}
