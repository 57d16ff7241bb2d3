internal import CLibPQ
import Foundation

/// A libpq connection string: a `postgres://` URL, a `key=value` conninfo string, or empty
/// (libpq then reads its `PG*` environment variables).
///
/// Parsing is libpq's own (`PQconninfoParse`), so every syntax libpq accepts is accepted and
/// nothing else. The raw text, which may hold a password, is kept private: `description`
/// and `redacted` never show it.
package struct ConnectionString: Sendable, CustomStringConvertible {
    /// The settings given explicitly, in libpq's keyword spelling (`host`, `port`, `dbname`…).
    package let settings: [String: String]
    fileprivate let raw: String

    /// Parses `text`. Throws `PostgresError` (`clientMisuse`) with libpq's reason when the
    /// text is not a valid URL or conninfo string; libpq quotes the text in its reasons, so any
    /// password in it is replaced by `*****` first (`ConnectionSecrets`).
    package init(_ text: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(
                kind: .clientMisuse,
                message: "invalid connection string: \(ConnectionSecrets.redact(reason.trimmingTrailingNewlines(), secretsOf: text))"
            )
        }
        defer { PQconninfoFree(options) }
        var settings: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                settings[String(cString: keyword)] = String(cString: value)
            }
            option += 1
        }
        self.settings = settings
        self.raw = text
    }

    /// True when libpq's reason for not connecting is a setting it refused before trying any
    /// server (`invalid sslmode value: "bogus"`, `invalid port number`, an integer option that
    /// is not one, host and port lists of different lengths): bad input, not an outage.
    package static func isRejectedSetting(_ reason: String) -> Bool {
        let patterns = [
            #"invalid [a-z_]+ value: ""#, #"invalid integer value ".*" for connection option"#, #"invalid port number"#,
            #"could not match [0-9]+ (host names|port numbers) to [0-9]+"#, #"value ".*" invalid when SSL support is not compiled in"#,
        ]
        return patterns.contains { reason.range(of: $0, options: .regularExpression) != nil }
    }

    /// The empty connection string: everything comes from libpq's `PG*` variables and defaults.
    package static let environment = try! ConnectionString("")

    /// The settings as a conninfo string with any password replaced by `*****`.
    package var redacted: String {
        guard !settings.isEmpty else { return "(libpq defaults and PG* environment)" }
        return settings.keys.sorted().map { key in
            let value = key == "password" ? "*****" : settings[key]!
            return "\(key)=\(Self.quoteConninfoValue(value))"
        }.joined(separator: " ")
    }

    /// `host:port` as far as the string says (libpq defaults fill the rest at connect time).
    package var endpoint: String {
        let host = settings["host"] ?? settings["hostaddr"] ?? "(default host)"
        let port = settings["port"] ?? "(default port)"
        return "\(host):\(port)"
    }

    package var description: String { redacted }

    /// The text handed to libpq. Only the connection code reads it.
    var libpqText: String { raw }

    /// A copy with `key` set to `value` (used to point tests and tools at a database).
    package func setting(_ key: String, to value: String) throws -> ConnectionString {
        var merged = settings
        merged[key] = value
        return try ConnectionString(
            merged.keys.sorted().map { "\($0)=\(Self.quoteConninfoValue(merged[$0]!))" }
                .joined(separator: " ")
        )
    }

    /// Quotes a value for a conninfo string: single quotes, with `\` and `'` escaped.
    package static func quoteConninfoValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "'" || $0 == "\\" || $0 == "=" }
        guard needsQuotes else { return value }
        var escaped = ""
        for character in value {
            if character == "\\" || character == "'" { escaped.append("\\") }
            escaped.append(character)
        }
        return "'\(escaped)'"
    }
}

extension String {
    /// libpq's messages end in a newline and may span lines; errors are shown on one line.
    func trimmingTrailingNewlines() -> String {
        split(whereSeparator: { $0.isNewline || $0 == "\t" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}
