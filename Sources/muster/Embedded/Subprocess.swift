import Foundation

/// Runs a program to completion and captures its output (stdout and stderr together).
///
/// Uses `posix_spawn` and `waitpid` directly: Foundation's `Process` on Linux missed the exit
/// of `runuser` around `pg_ctl start` (the child stayed a zombie and the wait never ended).
enum Subprocess {
    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs `executable` with `arguments`. When `asUser` is given and we are root, the program
    /// runs through `runuser -u USER --` (initdb and pg_ctl refuse to run as root).
    static func run(_ executable: String, _ arguments: [String], asUser user: String? = nil) throws -> Result {
        var argv = [executable] + arguments
        if let user, getuid() == 0 { argv = ["/usr/sbin/runuser", "-u", user, "--"] + argv }

        // Output goes to a file, not a pipe: `pg_ctl start` leaves a daemon behind that may
        // inherit the descriptor, and a pipe would then never report end-of-file.
        let outputPath = FileManager.default.temporaryDirectory.appending(path: "muster-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(argv[0], Array(argv.dropFirst()), output: outputPath)
        let status = waitForExit(pid)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Result(status: status, output: output)
    }

    /// Starts `executable` without waiting: stdin from /dev/null, stdout and stderr appended
    /// to `output`. Returns the child's pid; reap it with `waitForExit` or `exited`.
    static func spawn(_ executable: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let cArguments = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgres.failure("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// Blocks until `pid` exits; returns its exit status (128 + signal when killed).
    static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return exitStatus(status)
    }

    /// The exit status of `pid` if it has exited (reaping it), nil while it runs.
    static func exited(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid ? exitStatus(status) : nil
    }

    /// WIFEXITED / WEXITSTATUS, spelled out (the macros are not imported).
    private static func exitStatus(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
