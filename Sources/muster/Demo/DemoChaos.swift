import Foundation
import Muster
import Synchronization

/// `muster demo --chaos`: while the pipeline runs, every half second or so either SIGKILLs a
/// worker process (and starts a replacement) or terminates a few of this run's database
/// connections (workers', listeners', the reaper's). The run must still end correct.
final class DemoChaos: Sendable {
    struct Counts: Sendable, Codable, Hashable {
        var kills = 0
        /// Unexpired leases the killed processes held just before the kills.
        var leasesHeldByKilled = 0
        var terminations = 0
    }

    /// Up to three connections of this run's processes (application names starting with
    /// `$1`); one row per connection actually terminated. The chaos client itself is spared.
    private static let terminate = """
        SELECT 1 FROM (
            SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
            WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()
            ORDER BY random() LIMIT 3
        ) AS t
        WHERE t.cut
        """

    private final class Tally: Sendable {
        let counts = Mutex(Counts())
    }

    private let tally = Tally()
    private let task: Task<Void, Never>

    /// Starts the chaos; `connections` is the application-name prefix of this run's connections.
    init(workers: DemoWorkers, client: MusterClient, connections prefix: String) {
        // Worker ids are host:pid:random: one row per unexpired lease of the process `$1`.
        let leases = """
            SELECT 1 FROM \(client.schema.quoted).messages
            WHERE state = 'leased' AND visible_at > now() AND split_part(leased_by, ':', 2) = $1
            """
        let tally = self.tally
        task = Task {
            var round = 0
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: .milliseconds(Int.random(in: 300...700)))) != nil else { return }
                round += 1
                do {
                    if round % 2 == 1 {
                        let held = try await workers.killOneAndRestart { pid in
                            try await client.withTransaction { try await $0.execute(leases, ["\(pid)"]) }
                        }
                        if let held { tally.counts.withLock { $0.kills += 1; $0.leasesHeldByKilled += held } }
                    } else {
                        let cut = try await client.withTransaction { try await $0.execute(Self.terminate, [prefix]) }
                        tally.counts.withLock { $0.terminations += cut }
                    }
                } catch {
                    Terminal.note("chaos: \(error)")
                }
            }
        }
    }

    var current: Counts { tally.counts.withLock { $0 } }

    func stop() async {
        task.cancel()
        await task.value
    }
}
