import Foundation
import Testing

/// A private throwaway cluster run with `muster embedded`, for tests that stop and start
/// their server (the suite's shared server must stay up for every other test).
struct EmbeddedServer {
    let directory: String
    /// Its connection URL.
    let url: String

    /// Starts a new cluster, runs `body` with it and destroys it afterwards.
    static func with<T>(_ body: (EmbeddedServer) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-server-\(UUID().uuidString.prefix(8))").path
        let url = try await run(["start", "--fast", "--url"], directory)
        let server = EmbeddedServer(directory: directory, url: url)
        do {
            let value = try await body(server)
            _ = try await run(["destroy"], directory)
            return value
        } catch {
            _ = try? await run(["destroy"], directory)
            throw error
        }
    }

    /// Stops the server (fast shutdown: open connections are closed).
    func stop() async throws { _ = try await Self.run(["stop"], directory) }

    /// Starts it again on the same port.
    func start() async throws { _ = try await Self.run(["start", "--fast"], directory) }

    /// `muster embedded …` on this cluster's directory; returns what it printed, trimmed.
    private static func run(_ arguments: [String], _ directory: String) async throws -> String {
        let result = try await ChildProcess.run(["embedded"] + arguments + ["--dir", directory])
        try #require(result.status == 0, "embedded \(arguments): \(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
