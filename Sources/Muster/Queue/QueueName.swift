/// A queue's name: 1–64 characters from letters, digits, `_`, `-` and `.`.
/// Validated on creation, so a `QueueName` is always safe to use.
public struct QueueName: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The name.
    public let rawValue: String

    /// Validates `name`; throws `MusterError.invalidArgument` naming the rule.
    public init(_ name: String) throws {
        guard Self.isValid(name) else {
            throw MusterError(
                .invalidArgument,
                "invalid queue name \(String(reflecting: String(name.prefix(80)))): use 1-64 letters, digits, _, - or ."
            )
        }
        rawValue = name
    }

    /// For literals in code; a bad literal is a programming error and traps.
    public init(stringLiteral value: String) {
        precondition(Self.isValid(value), "invalid queue name literal \(value)")
        rawValue = value
    }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }
}
