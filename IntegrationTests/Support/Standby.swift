import Foundation
import Testing

/// A synchronous streaming standby of an `EmbeddedServer` (scripts/standby.sh), for failover
/// tests: the primary can crash and the standby be promoted.
struct Standby {
    let primary: EmbeddedServer
    let directory: String
    /// The standby's own URL.
    let url: String

    /// Makes a standby of `primary`, runs `body` and destroys the standby afterwards.
    static func with<T>(of primary: EmbeddedServer, _ body: (Standby) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appending(path: "muster-standby-\(UUID().uuidString.prefix(8))").path
        // The URL is the line the script prints last; anything a tool said before it is not.
        let output = try await script(["create", primary.directory, directory])
        let url = try #require(output.split(separator: "\n").last { $0.hasPrefix("postgresql://") }.map(String.init), "standby.sh create: \(output)")
        let standby = Standby(primary: primary, directory: directory, url: url)
        do {
            let value = try await body(standby)
            _ = try? await script(["destroy", directory])
            return value
        } catch {
            _ = try? await script(["destroy", directory])
            throw error
        }
    }

    /// A libpq multi-host URL over the primary and the standby that connects to whichever
    /// accepts writes.
    var failoverURL: String {
        func hostAndPort(_ url: String) -> Substring {
            url.dropFirst("postgresql://postgres@".count).prefix { $0 != "/" }
        }
        return "postgresql://postgres@\(hostAndPort(primary.url)),\(hostAndPort(url))/postgres?target_session_attrs=read-write"
    }

    /// Stops the primary as a crash would (`-m immediate`).
    func crashPrimary() async throws { _ = try await Self.script(["crash", primary.directory]) }

    /// Promotes the standby and waits until it accepts writes.
    func promote() async throws { _ = try await Self.script(["promote", directory]) }

    private static var scriptPath: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "scripts/standby.sh").path
    }

    private static func script(_ arguments: [String]) async throws -> String {
        let child = try ChildProcess([scriptPath] + arguments, executable: "/bin/bash")
        let status = await child.wait()
        try #require(status == 0, "standby.sh \(arguments): \(child.output())")
        return child.output().trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
