package import Foundation

/// A Swift value that can be sent as a statement parameter, in PostgreSQL's text format.
/// Parameters are always bound (`$1`, `$2`, …); no value is ever spliced into SQL text.
package protocol PostgresEncodable: Sendable {
    /// The value's text representation, as PostgreSQL's input function for its type reads it.
    var postgresText: String { get }
}

extension String: PostgresEncodable { package var postgresText: String { self } }
extension Int: PostgresEncodable { package var postgresText: String { String(self) } }
extension Int64: PostgresEncodable { package var postgresText: String { String(self) } }
extension Int32: PostgresEncodable { package var postgresText: String { String(self) } }
extension Int16: PostgresEncodable { package var postgresText: String { String(self) } }
extension Bool: PostgresEncodable { package var postgresText: String { self ? "t" : "f" } }
extension Double: PostgresEncodable { package var postgresText: String { "\(self)" } }
extension UUID: PostgresEncodable { package var postgresText: String { uuidString.lowercased() } }

extension Date: PostgresEncodable {
    /// Microseconds since the Unix epoch, as an unambiguous `timestamptz` literal in UTC.
    package var postgresText: String { PostgresTimestamp.format(self) }
}

extension Duration: PostgresEncodable {
    /// An `interval` literal in whole microseconds (`'1500000 microseconds'`).
    package var postgresText: String {
        let (seconds, attoseconds) = components
        return "\(seconds * 1_000_000 + attoseconds / 1_000_000_000_000) microseconds"
    }
}

/// A `jsonb` or `json` value carried as its UTF-8 text, so no decode/encode round trip is
/// paid on the way through the queue.
package struct PostgresJSON: PostgresEncodable, PostgresDecodable, Hashable {
    package var text: String
    package init(text: String) { self.text = text }
    package init(postgresText: String) { self.text = postgresText }
    package var postgresText: String { text }
}

/// A `bytea` value.
package struct PostgresBytes: PostgresEncodable, PostgresDecodable, Hashable {
    package var bytes: [UInt8]
    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    package init(postgresText: String) throws {
        let utf8 = Array(postgresText.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw PostgresError(kind: .decoding, message: "bytea value is not in hex format")
        }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw PostgresError(kind: .decoding, message: "bytea value has a non-hex digit")
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            bytes.append(try nibble(utf8[index]) << 4 | nibble(utf8[index + 1]))
            index += 2
        }
        self.bytes = bytes
    }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// A one-dimensional array literal: `{1,2}` or `{"a","b",NULL}`.
    package var postgresText: String { PostgresArrayLiteral.format(map { $0.postgresArrayItem }) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// Only used inside arrays; a nil top-level parameter is sent as SQL NULL by the caller.
    package var postgresText: String { self?.postgresText ?? "" }
}

/// A type that can be an element of an array parameter or column.
package protocol PostgresArrayElement: Sendable {
    /// The element's text, or nil for NULL.
    var postgresArrayItem: String? { get }
    /// Decodes one element; `nil` input means the element was NULL.
    static func decodeArrayItem(_ text: String?) throws -> Self
}

extension PostgresArrayElement where Self: PostgresEncodable & PostgresDecodable {
    package var postgresArrayItem: String? { postgresText }
    package static func decodeArrayItem(_ text: String?) throws -> Self {
        guard let text else { throw PostgresError(kind: .decoding, message: "array element is NULL") }
        return try Self(postgresText: text)
    }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    package var postgresArrayItem: String? { self?.postgresArrayItem }
    package static func decodeArrayItem(_ text: String?) throws -> Self {
        guard let text else { return nil }
        return try Wrapped.decodeArrayItem(text)
    }
}

extension String: PostgresArrayElement {}
extension Int: PostgresArrayElement {}
extension Int64: PostgresArrayElement {}
extension Int32: PostgresArrayElement {}
extension Int16: PostgresArrayElement {}
extension Bool: PostgresArrayElement {}
extension Double: PostgresArrayElement {}
extension UUID: PostgresArrayElement {}
extension PostgresJSON: PostgresArrayElement {}
extension Duration: PostgresArrayElement {
    package var postgresArrayItem: String? { postgresText }
    package static func decodeArrayItem(_ text: String?) throws -> Duration {
        throw PostgresError(kind: .decoding, message: "interval columns are not decoded; select extract(epoch from …)")
    }
}
