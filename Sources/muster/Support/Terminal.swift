import Foundation

/// Output helpers: data to stdout (tables or JSON), diagnostics to stderr.
enum Terminal {
    /// Writes one line to stderr, prefixed with `muster:`.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("muster: \(message)\n".utf8))
    }

    /// Writes a note for humans to stderr (keeps stdout clean for data).
    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    /// Prints `value` as pretty JSON with ISO 8601 dates and sorted keys.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Prints rows as an aligned text table with a header.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        let widths = header.indices.map { column in
            ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }
}
