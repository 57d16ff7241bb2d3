package import Foundation

/// A Swift type a text-format column value decodes into. NULL never reaches these
/// initializers: the row API turns it into `nil` for optionals and an error otherwise.
package protocol PostgresDecodable: Sendable {
    init(postgresText: String) throws
}

extension String: PostgresDecodable {
    /// Any column's text; `numeric` is decoded this way to keep its exact digits.
    package init(postgresText: String) { self = postgresText }
}

extension PostgresDecodable where Self: FixedWidthInteger {
    package init(postgresText: String) throws {
        guard let value = Self(postgresText, radix: 10) else {
            throw PostgresError(kind: .decoding, message: "not a \(Self.self): \(postgresText.prefix(32))")
        }
        self = value
    }
}

extension Int: PostgresDecodable {}
extension Int64: PostgresDecodable {}
extension Int32: PostgresDecodable {}
extension Int16: PostgresDecodable {}

extension Bool: PostgresDecodable {
    package init(postgresText: String) throws {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: throw PostgresError(kind: .decoding, message: "not a boolean: \(postgresText.prefix(8))")
        }
    }
}

extension Double: PostgresDecodable {
    package init(postgresText: String) throws {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else {
                throw PostgresError(kind: .decoding, message: "not a double: \(postgresText.prefix(32))")
            }
            self = value
        }
    }
}

extension UUID: PostgresDecodable {
    package init(postgresText: String) throws {
        guard let value = UUID(uuidString: postgresText) else {
            throw PostgresError(kind: .decoding, message: "not a uuid: \(postgresText.prefix(40))")
        }
        self = value
    }
}

extension Date: PostgresDecodable {
    /// Reads `timestamptz` in the ISO output style (`2026-11-24 12:52:23.123456+00`).
    package init(postgresText: String) throws {
        self = try PostgresTimestamp.parse(postgresText)
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Reads a one-dimensional array such as `int8[]` or `text[]`.
    package init(postgresText: String) throws {
        self = try PostgresArrayLiteral.parse(postgresText).map(Element.decodeArrayItem)
    }
}
