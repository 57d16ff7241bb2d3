import Foundation
import Logging
import Muster
import ServiceLifecycle
import Synchronization

/// The demo's workers: in this process (one client and `Worker` each, plus the reaper), or
/// as separate `muster demo-worker` processes that chaos can kill and restart.
final class DemoWorkers: Sendable {
    private struct State {
        var processes: [pid_t] = []
        var started = 0
    }

    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let clients: [MusterClient]
    private let spawnArguments: [String]?
    private let log: String
    private let state = Mutex(State())

    /// Starts `count` workers whose connections are named `applicationName`. With
    /// `processes`, they are child processes given `processArguments` (database and worker
    /// options); the reaper always runs here.
    init(
        count: Int,
        processes: Bool,
        applicationName: String,
        processArguments: [String],
        makeClient: (String) throws -> MusterClient,
        makeWorker: (MusterClient) throws -> Worker,
        reaper: Reaper
    ) throws {
        var services: [any Service] = [reaper]
        var clients: [MusterClient] = []
        if !processes {
            for _ in 0..<count {
                let client = try makeClient(applicationName)
                clients.append(client)
                services.append(try makeWorker(client))
            }
        }
        let logger = Logger(label: "muster.demo")
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        self.group = group
        self.running = Task { try await group.run() }
        self.clients = clients
        self.spawnArguments = processes ? ["demo-worker", "--application-name", applicationName] + processArguments : nil
        self.log = FileManager.default.temporaryDirectory.appending(path: "muster-demo-workers-\(getpid()).log").path
        if processes {
            for _ in 0..<count { try spawn() }
        }
    }

    /// Worker processes started so far (restarts included); 0 for in-process workers.
    var processesStarted: Int { state.withLock { $0.started } }

    /// Where worker processes write their output.
    var logPath: String { log }

    /// SIGKILLs the worker process `choose` picks from the running ones and starts a
    /// replacement. `before` runs first with the victim's pid (e.g. to count its leases);
    /// returns its answer, nil when nothing was picked.
    func killOneAndRestart(
        choosing choose: ([pid_t]) async throws -> pid_t?,
        before: (pid_t) async throws -> Int
    ) async throws -> Int? {
        let running = state.withLock { $0.processes }
        guard let victim = try await choose(running) else { return nil }
        let answer = try await before(victim)
        // Off the list before the kill, so `unexpectedExits` never reaps (and reports) it.
        guard state.withLock({ state in state.processes.firstIndex(of: victim).map { state.processes.remove(at: $0) } }) != nil else {
            return nil    // it exited on its own meanwhile: `unexpectedExits` reports it
        }
        kill(victim, SIGKILL)
        _ = Subprocess.waitForExit(victim)
        try spawn()
        return answer
    }

    /// Exit statuses of worker processes that ended on their own since the last call (a
    /// worker should only end when told to: the demo treats this as a failure).
    func unexpectedExits() -> [Int32] {
        state.withLock { state in
            var statuses: [Int32] = []
            state.processes.removeAll { pid in
                guard let status = Subprocess.exited(pid) else { return false }
                statuses.append(status)
                return true
            }
            return statuses
        }
    }

    /// Stops everything gracefully: SIGTERM to worker processes (they drain and hand their
    /// leases back), then the in-process services.
    func stop() async {
        let processes = state.withLock { state in
            defer { state.processes = [] }
            return state.processes
        }
        for pid in processes { kill(pid, SIGTERM) }
        for pid in processes {
            let deadline = ContinuousClock.now + .seconds(20)
            while Subprocess.exited(pid) == nil {
                if ContinuousClock.now > deadline { kill(pid, SIGKILL); _ = Subprocess.waitForExit(pid); break }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        await group.triggerGracefulShutdown()
        _ = await running.result
        for client in clients { await client.shutdown() }
    }

    private func spawn() throws {
        guard let spawnArguments else { return }
        let pid = try Subprocess.spawn(Self.executable, spawnArguments, output: log)
        state.withLock {
            $0.processes.append(pid)
            $0.started += 1
        }
    }

    /// This binary, to start worker processes with.
    private static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
