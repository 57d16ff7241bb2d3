import Foundation

/// A real child process (the `muster` binary, usually) that tests can wait for or kill.
/// Output (stdout and stderr together) goes to a file, read back with `output()`.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let outputPath: String

    /// The built `muster` binary: $MUSTER_BINARY, else .build/debug/muster in this package.
    static var musterBinary: String {
        if let path = ProcessInfo.processInfo.environment["MUSTER_BINARY"], !path.isEmpty { return path }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: ".build/debug/muster").path
    }

    /// Starts `executable` (default: muster) with `arguments` and extra environment; standard
    /// input reads `input` (default: nothing).
    init(_ arguments: [String], executable: String = ChildProcess.musterBinary, environment: [String: String] = [:], input: String = "/dev/null") throws {
        outputPath = FileManager.default.temporaryDirectory.appending(path: "muster-child-\(UUID().uuidString).out").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    deinit { try? FileManager.default.removeItem(atPath: outputPath) }

    /// Waits for the process to end; returns its exit status (128 + signal when killed).
    func wait() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }

    /// Sends `signal` (SIGKILL, SIGTERM…).
    func kill(_ signal: Int32) { _ = Foundation.kill(pid, signal) }

    /// Everything the process printed so far.
    func output() -> String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Runs to completion and returns (status, output).
    static func run(_ arguments: [String], environment: [String: String] = [:], input: String = "/dev/null") async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(arguments, environment: environment, input: input)
        let status = await child.wait()
        return (status, child.output())
    }
}
