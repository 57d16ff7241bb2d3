/// How the reaper elects its leader and sweeps.
public struct ReaperOptions: Sendable {
    /// How long leadership lasts without renewal. A SIGKILLed leader is replaced about one
    /// lease after its last renewal; followers check every quarter of it.
    public var leaseTTL: Duration
    /// Time between sweeps of the leader.
    public var sweepInterval: Duration
    /// How long tombstones of terminal executions are kept.
    public var tombstoneRetention: Duration
    /// Most rows of each kind one sweep touches.
    public var batchSize: Int

    public init(
        leaseTTL: Duration = .seconds(15),
        sweepInterval: Duration = .seconds(5),
        tombstoneRetention: Duration = .seconds(7 * 86_400),
        batchSize: Int = 1000
    ) {
        self.leaseTTL = leaseTTL
        self.sweepInterval = sweepInterval
        self.tombstoneRetention = tombstoneRetention
        self.batchSize = batchSize
    }

    func validate() throws {
        guard leaseTTL >= .milliseconds(100) && leaseTTL <= .seconds(3600) else {
            throw MusterError(.invalidArgument, "reaper lease must be between 100 ms and 1 hour")
        }
        guard sweepInterval > .zero, tombstoneRetention > .zero, (1...100_000).contains(batchSize) else {
            throw MusterError(.invalidArgument, "sweep interval and tombstone retention must be positive, batch size 1-100000")
        }
    }
}
