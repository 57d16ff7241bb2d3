import Foundation
import Muster
import Testing
@testable import MusterPostgres

/// A seeded fuzz run of Muster's SQL functions, as psql or a trigger could call them: every
/// function of the schema with values of its argument types, ordinary, empty, NULL, negative,
/// huge, malformed. A call may be refused only with Muster's own SQLSTATEs (MU001–MU005) or a
/// data exception (class 22), and a refused call changes no row count: no raw constraint
/// error, internal error, lost connection or crash.
@Suite struct SQLFuzzTests {
    /// The run's seed: fixed, so CI replays one run; MUSTER_FUZZ_SEED explores others.
    static let seed: UInt64 = ProcessInfo.processInfo.environment["MUSTER_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0017
    static let calls = 1_200

    @Test func everyFunctionRefusesBadArgumentsCleanly() async throws {
        try await OrchestrationFixture.with { fixture in
            let s = fixture.schema.quoted
            let connection = try await TestDatabase.connect()
            defer { Task { await connection.close() } }
            let functions = try await Self.functions(of: fixture.schema, on: connection)
            #expect(functions.count >= 40)
            var random = SeededRandom(seed: Self.seed)
            var refusedBy: [String: Int] = [:]
            var findings: [String] = []
            for call in 0..<Self.calls {
                if call % 200 == 0 { try await Self.seedRows(fixture) }
                let function = random.pick(functions)
                let values = function.argumentTypes.map { Self.value(of: $0, &random) }
                let casts = function.argumentTypes.enumerated().map { "$\($0.offset + 1)::\($0.element)" }.joined(separator: ", ")
                let sql = "SELECT * FROM \(s).\(function.name)(\(casts))"
                let before = try await Self.rowCounts(s, on: connection)
                do {
                    _ = try await connection.query(sql, values)
                } catch let error as PostgresError {
                    let state = error.sqlState ?? "none"
                    refusedBy[state, default: 0] += 1
                    let documented = state.hasPrefix("MU") || state.hasPrefix("22")
                    let unchanged = try await Self.rowCounts(s, on: connection) == before
                    if !documented || !unchanged || error.isConnectionLost {
                        findings.append("call \(call): \(function.name)(\(values.map { $0.map { String($0.prefix(40)) } ?? "NULL" })) → \(state) \(error.message)\(unchanged ? "" : " (and changed rows)")")
                    }
                }
            }
            #expect(findings.isEmpty, "seed \(Self.seed):\n\(findings.prefix(30).joined(separator: "\n"))")
            // The run reached the refusals it is about, not only happy paths.
            #expect(refusedBy.values.reduce(0, +) > Self.calls / 10, "\(refusedBy)")
        }
    }

    struct Function {
        var name: String
        var argumentTypes: [String]
    }

    /// The schema's functions that a client can call (no trigger functions, no row-typed
    /// arguments), with their argument types.
    static func functions(of schema: SchemaName, on connection: PostgresConnection) async throws -> [Function] {
        let rows = try await connection.query("""
            SELECT p.proname, coalesce(array_to_string(ARRAY(
                       SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i) ORDER BY i), ','), '')
            FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname = $1 AND p.prorettype <> 'trigger'::regtype AND p.prokind = 'f'
              AND NOT EXISTS (SELECT FROM unnest(p.proargtypes) AS t JOIN pg_type AS ty ON ty.oid = t WHERE ty.typtype = 'c')
            ORDER BY 1, 2
            """, [schema.name])
        return try rows.rows.map { row in
            let types: String = try row.decode(1)
            return Function(name: try row.decode(0), argumentTypes: types.isEmpty ? [] : types.split(separator: ",").map(String.init))
        }
    }

    /// Rows worth calling functions on: a queue with ready and leased messages, a dead
    /// letter, an execution with an armed barrier, a worker.
    static func seedRows(_ fixture: OrchestrationFixture) async throws {
        let client = fixture.client
        // Fuzzed calls may have deleted queues: create any that are gone.
        for queue in [fixture.members.name, fixture.callbacks.name, fixture.queueFixture.queue.name] {
            try await client.createQueue(queue)
        }
        _ = try await fixture.members.send((0..<5).map { _ in OutgoingMessage(payload: .emptyObject, task: "t") })
        _ = try await fixture.members.read(limit: 2)
        _ = try await fixture.fanOut(3)
    }

    static func rowCounts(_ s: String, on connection: PostgresConnection) async throws -> [Int] {
        let tables = ["queues", "messages", "message_keys", "archive", "dead_letters", "executions", "barriers", "barrier_members", "workers", "claims", "leader_leases"]
        let sql = "SELECT " + tables.map { "(SELECT count(*) FROM \(s).\($0))" }.joined(separator: ", ")
        let row = try await connection.query(sql).single()
        return try tables.indices.map { try row.decode($0) }
    }

    /// A value for a parameter of `type`, as text (nil: NULL).
    static func value(of type: String, _ random: inout SeededRandom) -> String? {
        if random.chance(0.15) { return nil }
        if type.hasSuffix("[]") {
            let element = String(type.dropLast(2))
            let count = random.pick([0, 1, 1, 2, 3])
            let items = (0..<count).map { _ in arrayItem(value(of: element, &random)) }
            return "{" + items.joined(separator: ",") + "}"
        }
        switch type {
        case "text":
            return random.pick(["jobs", "members", "callbacks", "nope", "", "a b", "x'; DROP TABLE q; --", "é日本", "\u{1}\n\t",
                                String(repeating: "z", count: 300), "max_attempts", "running", "failed", "canceled", "succeed",
                                "ready", "stage1", "m00001", "%s%n"])
        case "bigint", "integer":
            return random.pick(["0", "1", "2", "3", "5", "-1", "2147483647", "-2147483648", "99999999999"]) + ""
        case "smallint":
            return random.pick(["0", "1", "-1", "32767", "-32768", "40000"])
        case "boolean":
            return random.pick(["true", "false"])
        case "interval":
            return random.pick(["0", "1 second", "30 seconds", "-1 day", "1 ms", "100000000 years", "-100000000 years", "1 week"])
        case "timestamp with time zone":
            return random.pick(["now", "infinity", "-infinity", "1970-01-01", "2999-01-01", "294276-12-31"])
        case "jsonb":
            return random.pick(["{}", "[]", "1", "\"s\"", "null", "{\"a\":[1,2]}", "{\"n\":1e400}", "\"\\u0000\""])
        case "uuid":
            return random.pick([UUID().uuidString, "00000000-0000-0000-0000-000000000000"])
        default:
            return random.pick(["0", "", "x"])
        }
    }

    /// An array element literal: quoted, escaped, or NULL.
    static func arrayItem(_ value: String?) -> String {
        guard let value else { return "NULL" }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
