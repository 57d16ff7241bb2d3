// A complete Muster program: a two-stage pipeline that counts the words of some documents.
// Built with the package (CI builds it), run by an integration test, and quoted in the README.
//
//   MUSTER_DATABASE_URL=postgres://localhost/app swift run muster-example

import Foundation
import Logging
import Muster
import ServiceLifecycle

struct Document: Codable, Sendable { var name: String; var text: String }
struct Counted: Codable, Sendable { var name: String; var words: Int }
struct Report: Codable, Sendable { var documents: Int; var words: Int; var longest: String }

// Stage 1 fans out one part per document and aggregates the counts; stage 2 fans out again
// from stage 1's output (here: one part per counted document) and builds the report.
let pipeline = Pipeline("word-count", queue: "documents", input: [Document].self)
    .stage("count") { documents, _ in
        documents                                           // the parts: one per document
    } process: { document, _ in
        Counted(name: document.name, words: document.text.split(separator: " ").count)
    } aggregate: { _, counts, _ in
        counts                                              // in part order
    }
    .stage("rank") { counts, _ in
        counts
    } process: { counted, _ in
        counted                                             // e.g. a call to another service
    } aggregate: { _, ranked, _ in
        Report(documents: ranked.count, words: ranked.map(\.words).reduce(0, +),
               longest: ranked.max { $0.words < $1.words }?.name ?? "")
    }

let logger = Logger(label: "example")
let database = try DatabaseConfiguration(ProcessInfo.processInfo.environment["MUSTER_DATABASE_URL"] ?? "")
try await Migrator(database: database).migrate()               // installs or upgrades the schema
let client = MusterClient(database: database)
try await client.createQueue("documents")                      // false (and no change) when it exists

var worker = Worker(client: client, queue: "documents")
try worker.register(pipeline)
let services = ServiceGroup(configuration: .init(
    services: [.init(service: worker), .init(service: Reaper(client: client))], logger: logger
))
let running = Task { try await services.run() }

// Start an execution (idempotent by key: a retry after a crash starts nothing new), then
// wait for its result; any process can wait with client.execution(id, of: pipeline).
let execution = try await client.start(pipeline, input: [
    Document(name: "a", text: "the quick brown fox"),
    Document(name: "b", text: "jumps over the lazy dog again"),
], idempotencyKey: "example-\(UUID())")
let report = try await execution.result(timeout: .seconds(30))
print("execution \(execution.id): \(report.documents) documents, \(report.words) words, longest \(report.longest)")

await services.triggerGracefulShutdown()
try await running.value
await client.shutdown()
