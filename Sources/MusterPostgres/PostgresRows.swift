/// The complete result of one statement, copied out of libpq's result so it is a plain value.
package struct PostgresRows: Sendable {
    /// Column names in result order.
    package let columns: [String]
    /// The rows, in the order the server returned them.
    package let rows: [PostgresRow]
    /// Rows affected by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 otherwise.
    package let affectedRows: Int

    package init(columns: [String], rows: [PostgresRow], affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// The only row; throws `decoding` when there is none.
    package func single() throws -> PostgresRow {
        guard let row = rows.first else {
            throw PostgresError(kind: .decoding, message: "statement returned no row")
        }
        return row
    }
}

/// One row of text-format values. Decoding a NULL into a non-optional type throws; the
/// `decodeIfPresent` variants return nil instead. Nothing here traps on bad data.
package struct PostgresRow: Sendable {
    package let values: [String?]
    private let columns: ColumnNames

    init(values: [String?], columns: ColumnNames) {
        self.values = values
        self.columns = columns
    }

    package func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws -> T {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PostgresError(kind: .decoding, message: "column \(columns.name(at: column)) is NULL")
        }
        return value
    }

    package func decodeIfPresent<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws -> T? {
        guard values.indices.contains(column) else {
            throw PostgresError(kind: .decoding, message: "no column at index \(column)")
        }
        guard let text = values[column] else { return nil }
        do {
            return try T(postgresText: text)
        } catch var error as PostgresError {
            error.message = "column \(columns.name(at: column)): \(error.message)"
            throw error
        }
    }

    package func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try decode(columns.index(of: name), as: type)
    }

    package func decodeIfPresent<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        try decodeIfPresent(columns.index(of: name), as: type)
    }
}

/// Column names shared by all rows of a result.
final class ColumnNames: Sendable {
    let names: [String]
    private let indexes: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var indexes: [String: Int] = [:]
        for (index, name) in names.enumerated() where indexes[name] == nil { indexes[name] = index }
        self.indexes = indexes
    }

    func index(of name: String) throws -> Int {
        guard let index = indexes[name] else {
            throw PostgresError(kind: .decoding, message: "no column named \(name)")
        }
        return index
    }

    func name(at index: Int) -> String { names.indices.contains(index) ? names[index] : "#\(index)" }
}
