import Foundation

/// Output helpers: data to stdout (tables or JSON), diagnostics to stderr.
enum Terminal {
    /// Writes one line to stderr, prefixed with `muster:`. Control characters in the message
    /// (it may quote a task name or an error text someone else wrote) are escaped.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("muster: \(printable(message))\n".utf8))
    }

    /// `text` safe to show on a terminal on one line: control characters (C0, DEL, C1, and
    /// the line and paragraph separators) become escapes such as `\n`, `\t` and `\u{1B}`, so
    /// text from a message, a task name or an error cannot move the cursor, recolour the
    /// screen or print a fake row. JSON output is not escaped this way: it stays exact.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where isControl(scalar): escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
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

    /// Prints rows as an aligned text table with a header; every cell is `printable`.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        let rows = rows.map { $0.map(printable) }
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
