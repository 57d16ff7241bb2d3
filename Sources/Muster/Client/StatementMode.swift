/// How a client sends its statements to PostgreSQL.
///
/// | mode | on a direct connection | through a transaction-mode pooler |
/// |---|---|---|
/// | `prepared` | fastest: parsed and planned once per connection | PgBouncer ≥ 1.21 with `max_prepared_statements` |
/// | `unnamed` | parsed and planned on every call | any pooler, any version |
///
/// `prepared` is the default and heals itself: the first time the server refuses a prepared
/// statement (what a transaction pooler without prepared-statement support causes), the
/// client logs one warning naming the cause and sends unnamed statements from then on; the
/// refused statement ran nothing and runs again, unless it was inside a transaction, which
/// the refusal aborted (the error then carries the hint). Behind such a pooler, choose
/// `unnamed` to avoid even that first refusal. Either mode also turns off LISTEN behind the
/// pooler unless `MusterClient.Options.listenDatabase` names a direct connection.
public enum StatementMode: String, Sendable, CaseIterable {
    /// Named prepared statements, prepared once per connection.
    case prepared
    /// Unnamed extended-protocol statements (`PQexecParams`): nothing kept in the session.
    case unnamed
}
