import Foundation
import Muster

/// A project-local PostgreSQL cluster for the demo, local tries and the test harness.
///
/// Layout under `directory`: `data/` (the cluster, with `muster.conf` holding the settings
/// Muster chose and `postgres.log`) and `run/` (the unix socket). It listens on 127.0.0.1
/// only, with `trust` authentication for the `postgres` role: a throwaway for one machine,
/// not a server to expose. When run as root, initdb and pg_ctl run as the `postgres` OS user.
struct EmbeddedPostgres {
    /// What `status` reports.
    struct Status: Encodable {
        var running: Bool
        var directory: String
        var port: Int?
        var url: String
        var psql: String
        var log: String
    }

    /// `$MUSTER_EMBEDDED_DIR`, else `.muster/postgres` under the current directory.
    static var defaultDirectory: URL {
        if let explicit = ProcessInfo.processInfo.environment["MUSTER_EMBEDDED_DIR"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appending(path: ".muster/postgres")
    }

    /// The directory the user named (or `.muster/postgres`).
    let directory: URL
    /// Where the cluster really lives: `directory`, unless we run as root and the `postgres`
    /// OS user cannot reach it (a clone under a 0700 home, say); then a directory under
    /// /var/tmp/muster-embedded named after `directory`, recorded in `directory/LOCATION`.
    let clusterRoot: URL
    var dataDirectory: URL { clusterRoot.appending(path: "data") }
    var socketDirectory: URL { clusterRoot.appending(path: "run") }
    var logFile: URL { dataDirectory.appending(path: "postgres.log") }
    private var settingsFile: URL { dataDirectory.appending(path: "muster.conf") }
    private var locationFile: URL { directory.appending(path: "LOCATION") }
    private let serverUser = "postgres"

    init(directory: URL) {
        let directory = directory.standardizedFileURL
        self.directory = directory
        if getuid() == 0, !Self.reachable(directory.deletingLastPathComponent(), byUser: serverUser) {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the path: stable, collision-unlikely
            for byte in directory.path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            clusterRoot = URL(fileURLWithPath: "/var/tmp/muster-embedded").appending(path: String(hash, radix: 16))
        } else {
            clusterRoot = directory
        }
    }

    /// True when `user` can traverse every directory down to `url` (tested as that user).
    private static func reachable(_ url: URL, byUser user: String) -> Bool {
        var existing = url
        while !FileManager.default.fileExists(atPath: existing.path), existing.path != "/" {
            existing = existing.deletingLastPathComponent()
        }
        return (try? Subprocess.run("/usr/bin/test", ["-x", existing.path], asUser: user).status) == 0
    }

    /// Creates the cluster if needed and starts it if it is not running; returns its status.
    /// `fast` turns off fsync, synchronous_commit and full_page_writes (for tests only: a crash
    /// of the machine can then lose committed data).
    @discardableResult
    func start(fast: Bool, maxConnections: Int = 200) throws -> Status {
        let binaries = try Self.serverBinaries()
        if !FileManager.default.fileExists(atPath: dataDirectory.appending(path: "PG_VERSION").path) {
            try initialize(binaries: binaries, fast: fast, maxConnections: maxConnections)
        }
        if try isRunning(binaries: binaries) { return try status() }
        if let port = configuredPort(), !FileManager.default.fileExists(atPath: socketDirectory.appending(path: ".s.PGSQL.\(port)").path), !FreePort.isFree(port) {
            try writeSettings(port: try FreePort.find(), fast: fast, maxConnections: maxConnections, keepingOthers: true)
        }
        let result = try Subprocess.run(
            binaries.appending(path: "pg_ctl").path,
            ["start", "-w", "-t", "60", "-D", dataDirectory.path, "-l", logFile.path],
            asUser: serverUser
        )
        guard result.status == 0 else {
            throw Self.failure("pg_ctl start failed (see \(logFile.path)): \(lastLines(result.output))")
        }
        return try status()
    }

    /// Whether the server runs, and how to reach it.
    func status() throws -> Status {
        let binaries = try Self.serverBinaries()
        let port = configuredPort()
        let url = "postgresql://postgres@127.0.0.1:\(port.map(String.init) ?? "?")/postgres"
        return Status(
            running: try isRunning(binaries: binaries),
            directory: clusterRoot.path,
            port: port,
            url: url,
            psql: "psql '\(url)'",
            log: logFile.path
        )
    }

    /// Stops the server; does nothing when it is not running. A fast shutdown closes every
    /// session and checkpoints; `immediate` kills the server as a crash would, and the next
    /// start runs crash recovery.
    func stop(immediate: Bool = false) throws {
        let binaries = try Self.serverBinaries()
        guard try isRunning(binaries: binaries) else { return }
        let result = try Subprocess.run(
            binaries.appending(path: "pg_ctl").path,
            ["stop", "-w", "-m", immediate ? "immediate" : "fast", "-D", dataDirectory.path],
            asUser: serverUser
        )
        guard result.status == 0 else { throw Self.failure("pg_ctl stop failed: \(lastLines(result.output))") }
    }

    /// Stops the server and deletes the whole directory.
    func destroy() throws {
        if FileManager.default.fileExists(atPath: dataDirectory.path) { try stop() }
        for path in Set([clusterRoot, directory]) where FileManager.default.fileExists(atPath: path.path) {
            try FileManager.default.removeItem(at: path)
        }
    }

    // MARK: - Setup

    private func initialize(binaries: URL, fast: Bool, maxConnections: Int) throws {
        let manager = FileManager.default
        // A half-made cluster from an interrupted initdb is useless: start over.
        if manager.fileExists(atPath: dataDirectory.path) { try manager.removeItem(at: dataDirectory) }
        // Every level must be traversable by the server's OS user; only data/ is private.
        try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if clusterRoot != directory {
            try manager.createDirectory(at: clusterRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try "\(clusterRoot.path)\n".write(to: locationFile, atomically: true, encoding: .utf8)
        }
        try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: clusterRoot.path)
        try manager.createDirectory(at: dataDirectory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try manager.createDirectory(at: socketDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if getuid() == 0 {
            try ensureServerUser()
            for path in [clusterRoot, dataDirectory, socketDirectory] {
                let result = try Subprocess.run("/bin/chown", [serverUser, path.path])
                guard result.status == 0 else { throw Self.failure("cannot chown \(path.path) to \(serverUser): \(result.output)") }
            }
        }
        let result = try Subprocess.run(
            binaries.appending(path: "initdb").path,
            ["-D", dataDirectory.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            asUser: serverUser
        )
        guard result.status == 0 else { throw Self.failure("initdb failed: \(lastLines(result.output))") }
        try writeSettings(port: try FreePort.find(), fast: fast, maxConnections: maxConnections, keepingOthers: false)
        let main = dataDirectory.appending(path: "postgresql.conf")
        let handle = try FileHandle(forWritingTo: main)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n# Settings chosen by muster embedded\ninclude 'muster.conf'\n".utf8))
        try handle.close()
    }

    private func writeSettings(port: Int, fast: Bool, maxConnections: Int, keepingOthers: Bool) throws {
        var lines: [String] = []
        if keepingOthers, let existing = try? String(contentsOf: settingsFile, encoding: .utf8) {
            lines = existing.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("port ") }
        } else {
            lines = [
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = '\(socketDirectory.path)'",
                "max_connections = \(maxConnections)",
                "shared_buffers = '128MB'",
                "logging_collector = off",
            ]
            if fast {
                lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
            }
        }
        lines.append("port = \(port)")
        try (lines.joined(separator: "\n") + "\n").write(to: settingsFile, atomically: false, encoding: .utf8)
        if getuid() == 0 { _ = try Subprocess.run("/bin/chown", [serverUser, settingsFile.path]) }
    }

    private func configuredPort() -> Int? {
        guard let text = try? String(contentsOf: settingsFile, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("port = ") {
            return Int(line.dropFirst("port = ".count))
        }
        return nil
    }

    private func isRunning(binaries: URL) throws -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory.path) else { return false }
        let result = try Subprocess.run(binaries.appending(path: "pg_ctl").path, ["status", "-D", dataDirectory.path], asUser: serverUser)
        return result.status == 0
    }

    private func ensureServerUser() throws {
        if try Subprocess.run("/usr/bin/id", ["-u", serverUser]).status == 0 { return }
        let result = try Subprocess.run("/usr/sbin/useradd", ["--system", "--no-create-home", serverUser])
        guard result.status == 0 else { throw Self.failure("cannot create the \(serverUser) OS user: \(result.output)") }
    }

    private func lastLines(_ output: String) -> String {
        output.split(separator: "\n").suffix(3).joined(separator: " | ")
    }

    // MARK: - Finding the server

    /// The directory with initdb, pg_ctl and postgres: $MUSTER_PG_BINDIR, else
    /// `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin.
    static func serverBinaries() throws -> URL {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["MUSTER_PG_BINDIR"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        for pgConfig in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where FileManager.default.isExecutableFile(atPath: pgConfig) {
            if let result = try? Subprocess.run(pgConfig, ["--bindir"]), result.status == 0 {
                candidates.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
        for candidate in candidates {
            let directory = URL(fileURLWithPath: candidate)
            let needed = ["initdb", "pg_ctl", "postgres"]
            if needed.allSatisfy({ FileManager.default.isExecutableFile(atPath: directory.appending(path: $0).path) }) {
                return directory
            }
        }
        throw failure(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install them with `apt-get install postgresql-15` (Debian/Ubuntu) or set MUSTER_PG_BINDIR"
        )
    }

    static func failure(_ message: String) -> MusterError {
        MusterError(.embeddedDatabase, message)
    }
}
