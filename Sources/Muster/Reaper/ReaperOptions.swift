/// How the reaper elects its leader and sweeps.
public struct ReaperOptions: Sendable {
    /// How long leadership lasts without renewal. A SIGKILLed leader is replaced about one
    /// lease after its last renewal; followers check every quarter of it.
    public var leaseTTL: Duration
    /// Time between sweeps of the leader.
    public var sweepInterval: Duration
    /// How long tombstones of terminal executions are kept.
    public var tombstoneRetention: Duration
    /// How long terminal executions (with their barriers and members) are kept after they
    /// finish; nil keeps them forever. Executions a message or dead letter still points at are
    /// kept until those are gone.
    public var executionRetention: Duration?
    /// Whether the leader rebuilds (REINDEX CONCURRENTLY) the indexes of the hot tables that
    /// grew under a held snapshot, each once after it ended, and any that grew very large
    /// (`IndexCompaction`); one per sweep, given at most half a lease.
    public var compactsHotIndexes: Bool = true
    /// Most rows of each kind one sweep touches. A sweep that fills a batch is followed by
    /// another at once, so a backlog drains at database speed, not one batch per interval.
    public var batchSize: Int

    public init(
        leaseTTL: Duration = .seconds(15),
        sweepInterval: Duration = .seconds(5),
        tombstoneRetention: Duration = .seconds(7 * 86_400),
        executionRetention: Duration? = .seconds(30 * 86_400),
        batchSize: Int = 1000
    ) {
        self.leaseTTL = leaseTTL
        self.sweepInterval = sweepInterval
        self.tombstoneRetention = tombstoneRetention
        self.executionRetention = executionRetention
        self.batchSize = batchSize
    }

    func validate() throws {
        guard leaseTTL >= .milliseconds(100) && leaseTTL <= .seconds(3600) else {
            throw MusterError(.invalidArgument, "reaper lease must be between 100 ms and 1 hour")
        }
        guard sweepInterval > .zero, tombstoneRetention > .zero, executionRetention.map({ $0 > .zero }) ?? true,
              (1...100_000).contains(batchSize) else {
            throw MusterError(.invalidArgument, "sweep interval and retentions must be positive, batch size 1-100000")
        }
    }
}
