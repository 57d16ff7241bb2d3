/// A SQL identifier (schema, channel) that has been validated, so it can be quoted into
/// statement text without any risk of injection.
///
/// Accepted: 1–63 bytes of ASCII letters, digits and `_`, not starting with a digit. That is
/// stricter than PostgreSQL needs, on purpose: such names never need case folding tricks and
/// read the same in `psql` quoted or not.
package struct SQLIdentifier: Hashable, Sendable, CustomStringConvertible {
    /// The identifier as the user wrote it.
    package let name: String

    /// Validates `name`; returns nil when it is not an acceptable identifier.
    package init?(_ name: String) {
        guard Self.isValid(name) else { return nil }
        self.name = name
    }

    /// The identifier in double quotes, ready to be placed in SQL text.
    package var quoted: String { "\"\(name)\"" }

    package var description: String { name }

    /// The validation rule, as a pure function.
    package static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        guard let first = bytes.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}
