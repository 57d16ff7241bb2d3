import Foundation
import Muster
import Synchronization

/// `muster demo --chaos`: while the pipeline runs, every half second or so either SIGKILLs a
/// worker process (and starts a replacement) or terminates a few of this run's database
/// connections (workers', listeners', the reaper's). Kills go first to a process that holds
/// an orchestration claim (mid-split), the moment a crash used to cost an execution its
/// start message: once per execution (killing every split of one execution would be a crash
/// loop, which the queue rightly dead-letters after max attempts). When the demo owns the server (the embedded one), it also restarts it
/// twice: a fast shutdown a third of the way through, an immediate one (a crash, then
/// recovery) two thirds through. The run must still end correct.
final class DemoChaos: Sendable {
    struct Counts: Sendable, Codable, Hashable {
        var kills = 0
        /// Kills aimed at a process while it held an orchestration claim.
        var claimHolderKills = 0
        /// Unexpired leases the killed processes held just before the kills.
        var leasesHeldByKilled = 0
        var terminations = 0
        /// Server restarts (fast, then immediate); 0 on a server the demo does not own.
        var restarts = 0
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

    private struct Shared: Sendable {
        var counts = Counts()
        /// Parts done of parts armed so far, reported by the demo's progress loop.
        var progress = 0.0
    }

    private final class Box: Sendable {
        let state = Mutex(Shared())
        func withLock<T: Sendable>(_ body: (inout Shared) -> T) -> T { state.withLock { body(&$0) } }
    }

    private let shared = Box()
    private let task: Task<Void, Never>

    /// Starts the chaos; `connections` is the application-name prefix of this run's
    /// connections, `server` the embedded server when the demo owns it.
    init(workers: DemoWorkers, client: MusterClient, connections prefix: String, server: EmbeddedPostgres?) {
        let s = client.schema.quoted
        // Worker ids and claim holders are host:pid:random…: one row per unexpired lease of
        // the process `$1`; (pid, execution) of each claim held now.
        let leases = "SELECT 1 FROM \(s).messages WHERE state = 'leased' AND visible_at > now() AND split_part(leased_by, ':', 2) = $1"
        let claims = "SELECT split_part(holder, ':', 2), execution_id FROM \(s).claims WHERE state = 'held' AND expires_at > now()"
        task = Task { [shared] in
            var aimedAt: Set<String> = []
            func kill(aimed: Bool) async throws {
                let held = try await workers.killOneAndRestart { pids in
                    guard aimed else { return pids.randomElement() }
                    for row in try await client.withTransaction({ try await $0.query(claims) }) {
                        guard let pid = row[0].flatMap({ pid_t($0) }), let execution = row[1],
                              pids.contains(pid), aimedAt.insert(execution).inserted else { continue }
                        return pid
                    }
                    return nil
                } before: { pid in
                    try await client.withTransaction { try await $0.execute(leases, ["\(pid)"]) }
                }
                guard let held else { return }
                shared.withLock {
                    $0.counts.kills += 1
                    $0.counts.leasesHeldByKilled += held
                    if aimed { $0.counts.claimHolderKills += 1 }
                }
            }
            var nextDisruption = ContinuousClock.now
            while !Task.isCancelled {
                // Claims are held for a split's length: look for one often, act on it at once.
                guard (try? await Task.sleep(for: .milliseconds(25))) != nil else { return }
                let (progress, restarts) = shared.withLock { ($0.progress, $0.counts.restarts) }
                do {
                    if let server, restarts < 2, progress >= Double(restarts + 1) / 3 {
                        try await Self.restart(server, immediate: restarts == 1)
                        shared.withLock { $0.counts.restarts += 1 }
                        continue
                    }
                    try await kill(aimed: true)
                    guard ContinuousClock.now >= nextDisruption else { continue }
                    nextDisruption = .now + .milliseconds(Int.random(in: 300...700))
                    if Bool.random() {
                        try await kill(aimed: false)
                    } else {
                        let cut = try await client.withTransaction { try await $0.execute(Self.terminate, [prefix]) }
                        shared.withLock { $0.counts.terminations += cut }
                    }
                } catch let error as MusterError where error.isServerUnavailable {
                    continue    // the server is restarting: the workers ride it out, so does chaos
                } catch {
                    Terminal.note("chaos: \(error)")
                }
            }
        }
    }

    var current: Counts { shared.withLock { $0.counts } }

    /// Parts done of parts armed: restarts happen at a third and at two thirds.
    func update(progress: Double) {
        shared.withLock { $0.progress = progress }
    }

    func stop() async {
        task.cancel()
        await task.value
    }

    /// Stops the server (fast or immediate) and starts it again, off the cooperative pool:
    /// pg_ctl blocks for seconds.
    private static func restart(_ server: EmbeddedPostgres, immediate: Bool) async throws {
        Terminal.note("chaos: restarting the server (\(immediate ? "immediate: a crash, then recovery" : "fast shutdown"))")
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    try server.stop(immediate: immediate)
                    try server.start(fast: false)
                })
            }
        }
    }
}
