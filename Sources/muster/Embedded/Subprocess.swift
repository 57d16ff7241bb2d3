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

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgres.failure("cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, spelled out (the macros are not imported).
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitStatus, output: output)
    }
}
