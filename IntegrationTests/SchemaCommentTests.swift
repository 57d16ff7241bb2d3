import Muster
import Testing
@testable import MusterPostgres

/// The schema documents itself: `\d+` in psql and docs/sql-debugging.md rely on every table,
/// view and column of a migrated schema carrying a `COMMENT ON`.
@Suite struct SchemaCommentTests {
    /// Tables (plain, partitioned, foreign), views and materialized views of the schema without
    /// a comment, and their columns without one, as "view name" / "column table.name".
    /// Partitions are documented by their partitioned table (the reaper makes them daily).
    private static let uncommentedRelationsAndColumns = """
        SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' ELSE 'table ' END || c.relname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = $1
          AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition
          AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT 'column ' || c.relname || '.' || a.attname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = $1
          AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition
          AND col_description(c.oid, a.attnum) IS NULL
        ORDER BY 1
        """

    /// Functions of the schema without a comment, with their argument types.
    private static let uncommentedFunctions = """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = $1
          AND obj_description(p.oid, 'pg_proc') IS NULL
        ORDER BY 1
        """

    private func offenders(_ sql: String, in schema: SchemaName) async throws -> [String] {
        try await TestDatabase.query(sql, [schema.name]).rows.map { try $0.decode(0, as: String.self) }
    }

    @Test func everyTableViewAndColumnHasAComment() async throws {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            let missing = try await offenders(Self.uncommentedRelationsAndColumns, in: schema)
            #expect(missing.isEmpty, "without COMMENT ON: \(missing.joined(separator: ", "))")
        }
    }

    @Test func everyFunctionHasAComment() async throws {
        try await TestDatabase.withSchema { schema in
            try await Migrator(database: try TestDatabase.configuration(), schema: schema).migrate()
            let missing = try await offenders(Self.uncommentedFunctions, in: schema)
            #expect(missing.isEmpty, "functions without COMMENT ON: \(missing.joined(separator: ", "))")
        }
    }
}
