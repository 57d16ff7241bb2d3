import Foundation
import Muster

/// Output helpers: data to stdout (tables or JSON), diagnostics to stderr.
enum Terminal {
    /// Writes one line to stderr, prefixed with `muster:`. Control characters in the message
    /// (it may quote a task name or an error text someone else wrote) are escaped.
    /// A password found in any command-line argument (a URL typed where a queue name
    /// belongs, say) is replaced by `*****`.
    static func error(_ message: String) {
        let safe = DatabaseConfiguration.hidingPasswords(of: CommandLine.arguments, in: message)
        FileHandle.standardError.write(Data("muster: \(printable(safe))\n".utf8))
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

    /// Writes a note for humans to stderr (keeps stdout clean for data); each of its lines is
    /// `printable` (a note may quote an error text someone else wrote).
    static func note(_ message: String) {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map { printable(String($0)) }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Prints `value` as pretty JSON with sorted keys, ISO 8601 dates to the millisecond (the
    /// precision of the tables) and `RawJSON` texts embedded exactly.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let embedding = RawJSONEmbedding()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let dates = UncheckedFormatter(formatter)
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(dates.formatter.string(from: date))
        }
        encoder.userInfo[RawJSONEmbedding.key] = embedding
        // Foundation prints an empty array or object over two lines; a newline cannot occur
        // inside an encoded string (it is escaped), so only empty collections match.
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
            .replacingOccurrences(of: #"\[\n\s*\]"#, with: "[]", options: .regularExpression)
            .replacingOccurrences(of: #"\{\n\s*\}"#, with: "{}", options: .regularExpression)
        print(embedding.substitute(in: text))
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

/// `ISO8601DateFormatter` is not `Sendable`; `printJSON` only uses it from its own call.
private struct UncheckedFormatter: @unchecked Sendable {
    let formatter: ISO8601DateFormatter
    init(_ formatter: ISO8601DateFormatter) { self.formatter = formatter }
}
