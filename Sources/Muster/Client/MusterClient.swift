import Foundation
public import Logging
internal import MusterPostgres

/// The entry point: a pool of connections to one database and schema, shared by queues,
/// workers and orchestration. Create one per process and share it; it is `Sendable`.
public final class MusterClient: Sendable {
    /// Client settings.
    public struct Options: Sendable {
        /// Most connections the pool opens.
        public var maxConnections: Int
        /// How long an operation waits for a free connection before failing with `timeout`.
        public var acquireTimeout: Duration
        /// Written to `leased_by` on every message this client reads; names the process in
        /// `SELECT`s. Default: `host:pid:random`.
        public var workerID: String
        /// Whether long polls may use LISTEN/NOTIFY; with false, reads poll.
        public var useListenNotify: Bool
        /// `application_name` for the connections.
        public var applicationName: String
        /// How statements are sent: `prepared` (default, fastest on a direct connection, and
        /// switching to `unnamed` by itself behind a pooler that refuses them) or `unnamed`
        /// (any pooler). See `StatementMode`.
        public var statementMode: StatementMode
        /// A direct (session-keeping) connection for the one LISTEN connection, when the pool
        /// goes through a transaction-mode pooler. Without it, a client that sends unnamed
        /// statements (by choice or after a pooler refused a prepared one) does not LISTEN:
        /// reads poll, and the client says so once in its log.
        public var listenDatabase: DatabaseConfiguration?

        public init(
            maxConnections: Int = 8,
            acquireTimeout: Duration = .seconds(10),
            workerID: String = MusterClient.defaultWorkerID(),
            useListenNotify: Bool = true,
            applicationName: String = "muster",
            statementMode: StatementMode = .prepared,
            listenDatabase: DatabaseConfiguration? = nil
        ) {
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.workerID = workerID
            self.useListenNotify = useListenNotify
            self.applicationName = applicationName
            self.statementMode = statementMode
            self.listenDatabase = listenDatabase
        }
    }

    /// The schema holding Muster's tables.
    public let schema: SchemaName
    /// The settings this client was made with.
    public let options: Options
    let logger: Logger
    let pool: ConnectionPool
    let database: DatabaseConfiguration
    let notifications: NotificationHub
    /// Wakes workers after this client's sends commit (see `WakeUps`).
    let wakeUps: WakeUps
    let queueSQL: QueueSQL
    let orchestrationSQL: OrchestrationSQL
    let inspectionSQL: InspectionSQL
    let monitoringSQL: MonitoringSQL

    /// Creates a client. Connects lazily: the first operation opens the first connection.
    public init(
        database: DatabaseConfiguration,
        schema: SchemaName = .default,
        options: Options = Options(),
        logger: Logger = Logger(label: "muster")
    ) {
        self.schema = schema
        self.options = options
        self.logger = logger
        self.database = database
        self.queueSQL = QueueSQL(schema: schema)
        self.orchestrationSQL = OrchestrationSQL(schema: schema)
        self.inspectionSQL = InspectionSQL(schema: schema)
        self.monitoringSQL = MonitoringSQL(schema: schema)
        let statements = StatementSending(unnamed: options.statementMode == .unnamed)
        self.pool = ConnectionPool(
            connectionString: database.connectionString,
            options: .init(
                maxConnections: options.maxConnections,
                acquireTimeout: options.acquireTimeout,
                applicationName: options.applicationName,
                statements: statements
            ),
            logger: logger
        )
        let (pool, queueSQL) = (self.pool, self.queueSQL)
        self.wakeUps = WakeUps(logger: logger) { channels in
            _ = try await pool.withConnection { try await $0.execute(prepared: queueSQL.notify.name, queueSQL.notify.sql, [channels]) }
        }
        self.notifications = NotificationHub(
            connectionString: options.listenDatabase?.connectionString ?? database.connectionString,
            ownConnection: options.listenDatabase != nil,
            statements: statements,
            applicationName: "\(options.applicationName)-listener",
            enabled: options.useListenNotify,
            logger: logger
        )
    }

    /// Closes the pool and the listener. Operations after this fail.
    public func shutdown() async {
        notifications.stop()
        await pool.close()
    }

    /// `host:pid:xxxxxx`, unique per process start.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = UUID().uuidString.prefix(6).lowercased()
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}
