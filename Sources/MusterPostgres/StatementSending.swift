import Synchronization

/// How a pool's connections send named statements, shared by every connection of the pool.
///
/// `prepared`: each connection prepares a statement once (`PQprepare`) and then only binds and
/// executes it; the server keeps the prepared statement in its session. `unnamed`: every call
/// is an unnamed extended-protocol statement (`PQexecParams`): parsed and planned each time,
/// nothing kept in the session, so it works through any pooler in transaction mode.
///
/// A pool that starts with prepared statements switches to unnamed ones for good the first time
/// the server says a statement this connection prepared does not exist (26000) or one it is
/// preparing already exists (42P05): a transaction-mode pooler (PgBouncer before 1.21, or
/// without `max_prepared_statements`) moved the session between server connections.
package final class StatementSending: Sendable {
    private let unnamed: Atomic<Bool>

    package init(unnamed: Bool) {
        self.unnamed = Atomic(unnamed)
    }

    /// True when statements go unnamed (configured so, or switched after a refusal).
    package var usesUnnamed: Bool { unnamed.load(ordering: .relaxed) }

    /// Switches to unnamed statements; true only for the call that made the switch, so the
    /// cause is logged once per pool.
    package func switchToUnnamed() -> Bool {
        unnamed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }
}

extension PostgresError {
    /// The server refused a named prepared statement: unknown (26000) or already there (42P05).
    /// On a direct connection Muster's bookkeeping makes neither happen; a transaction-mode
    /// pooler does.
    package var isPreparedStatementRefused: Bool {
        (sqlState == "26000" || sqlState == "42P05") && message.contains("prepared statement")
    }

    /// What a refused prepared statement most likely means and what to do about it.
    package static let poolerHint = """
        a transaction-mode pooler (PgBouncer before 1.21, or without max_prepared_statements) \
        is likely between Muster and PostgreSQL; send unnamed statements instead \
        (MusterClient.Options.statementMode = .unnamed, --statements unnamed, \
        MUSTER_STATEMENTS=unnamed); see docs/operations.md, "Topologies"
        """
}
