/// Every read-only statement behind the inspection API (`muster status`, `execution show`,
/// `workers`, run summaries), schema-qualified once per client. They read the tables and
/// the views of migrations/0005_inspection.sql, which docs/sql-debugging.md documents.
struct InspectionSQL: Sendable {
    let executionSetStats: Statement

    init(schema: SchemaName) {
        let s = schema.quoted
        func statement(_ name: String, _ sql: String) -> Statement {
            Statement(name: "muster_\(schema.name)_inspect_\(name)", sql: sql)
        }
        executionSetStats = statement("execution_set_stats", """
            WITH ids AS (SELECT DISTINCT unnest($1::uuid[]) AS id),
            messages AS (
                SELECT 'waiting' AS place, m.state, m.read_ct FROM \(s).messages AS m WHERE m.execution_id IN (SELECT id FROM ids)
                UNION ALL
                SELECT 'archived', NULL, a.read_ct FROM \(s).archive AS a WHERE a.execution_id IN (SELECT id FROM ids)
                UNION ALL
                SELECT 'dead', NULL, d.read_ct FROM \(s).dead_letters AS d WHERE d.execution_id IN (SELECT id FROM ids)
            )
            SELECT
                (SELECT coalesce(jsonb_object_agg(x.status, x.n), '{}')::text
                 FROM (SELECT e.status, count(*) AS n FROM \(s).executions AS e
                       WHERE e.id IN (SELECT id FROM ids) GROUP BY e.status) AS x),
                (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'name', x.name, 'barriers', x.barriers, 'finalized', x.finalized, 'members', x.members,
                            'members_done', x.done, 'members_failed', x.failed) ORDER BY x.first), '[]')::text
                 FROM (SELECT b.name, count(*) AS barriers, count(b.finalized_at) AS finalized, sum(b.expected) AS members,
                              sum(b.expected - b.remaining) AS done, sum(b.failed) AS failed, min(b.created_at) AS first
                       FROM \(s).barriers AS b WHERE b.execution_id IN (SELECT id FROM ids) GROUP BY b.name) AS x),
                count(*) FILTER (WHERE place = 'waiting'),
                count(*) FILTER (WHERE place = 'waiting' AND state = 'leased'),
                count(*) FILTER (WHERE place = 'archived'),
                coalesce(sum(read_ct), 0)::bigint,
                coalesce(sum(greatest(read_ct - 1, 0)), 0)::bigint,
                count(*) FILTER (WHERE place = 'dead')
            FROM messages
            """)
    }
}
