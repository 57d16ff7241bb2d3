import ArgumentParser
import Foundation

/// `muster embedded`: the local throwaway PostgreSQL used by `--embedded`, the demo and tests.
struct EmbeddedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedded",
        abstract: "Manage the local embedded PostgreSQL (under .muster/postgres by default).",
        discussion: """
        It listens on 127.0.0.1 with trust authentication: for local use only.

        Examples:
          muster embedded start
          psql "$(muster embedded status --url)"
          muster embedded destroy
        """,
        subcommands: [Start.self, Status.self, Stop.self, Destroy.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "Cluster directory (default: $MUSTER_EMBEDDED_DIR, else .muster/postgres under the current directory).")
        var dir: String?

        var server: EmbeddedPostgres {
            EmbeddedPostgres(directory: dir.map { URL(fileURLWithPath: $0) } ?? EmbeddedPostgres.defaultDirectory)
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the cluster if needed and start it.", discussion: "Example: muster embedded start --dir /tmp/muster-pg")
        @OptionGroup var location: Location
        @Flag(help: "fsync, synchronous_commit and full_page_writes off (tests only; never for data you keep).")
        var fast = false
        @Option(name: .customLong("max-connections"), help: "max_connections for a new cluster, 10 to 10000.")
        var maxConnections = 200
        @Flag(help: "Print only the connection URL.")
        var url = false
        @Flag(help: "Machine-readable output.")
        var json = false

        func validate() throws {
            guard (10...10_000).contains(maxConnections) else { throw ValidationError("--max-connections must be between 10 and 10000") }
        }

        func run() throws {
            let status = try location.server.start(fast: fast, maxConnections: maxConnections)
            try EmbeddedCommand.show(status, urlOnly: url, json: json)
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether it runs and how to connect (exit 1 when it does not run).",
            discussion: "Example: muster embedded status --url"
        )
        @OptionGroup var location: Location
        @Flag(help: "Print only the connection URL.")
        var url = false
        @Flag(help: "Machine-readable output.")
        var json = false

        func run() throws {
            let status = try location.server.status()
            try EmbeddedCommand.show(status, urlOnly: url, json: json)
            // 1, not 3: muster's 3 means a lost lease.
            if !status.running && !json && !url { throw ExitCode(1) }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the server, keeping its data.", discussion: "Example: muster embedded stop")
        @OptionGroup var location: Location
        func run() throws {
            try location.server.stop()
            print("Stopped the embedded PostgreSQL in \(location.server.directory.path).")
        }
    }

    struct Destroy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the server and delete its directory.", discussion: "Example: muster embedded destroy --dir /tmp/muster-pg")
        @OptionGroup var location: Location
        func run() throws {
            try location.server.destroy()
            print("Removed the embedded PostgreSQL in \(location.server.directory.path).")
        }
    }

    static func show(_ status: EmbeddedPostgres.Status, urlOnly: Bool, json: Bool) throws {
        if json { return try Terminal.printJSON(status) }
        if urlOnly { return print(status.url) }
        print("""
        Embedded PostgreSQL \(status.running ? "running" : "not running") in \(status.directory)
          url:   \(status.url)
          psql:  \(status.psql)
          log:   \(status.log)
          stop:  muster embedded stop      remove: muster embedded destroy
        """)
    }
}
