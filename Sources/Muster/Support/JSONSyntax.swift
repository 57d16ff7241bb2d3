/// Checks that text is one JSON value (RFC 8259), at any nesting depth.
///
/// Foundation's parsers refuse nesting deeper than 512 levels, which PostgreSQL's jsonb
/// accepts: a payload a SQL `send` stored could not be sent by the library. This scanner keeps
/// its own stack of open containers, so depth costs memory, not the call stack, and it builds
/// nothing: a payload is only checked, never decoded. PostgreSQL remains the final judge of
/// what jsonb accepts (`\u0000` in a string, for instance, is valid JSON but not valid jsonb).
enum JSONSyntax {
    /// True when `text` is exactly one JSON value, surrounded by optional whitespace.
    static func isValid(_ text: String) -> Bool {
        var scanner = Scanner(bytes: Array(text.utf8))
        return scanner.scanDocument()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        /// Open containers, innermost last: true for an object, false for an array.
        var open: [Bool] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard current == byte else { return false }
            index += 1
            return true
        }

        /// value (, value)* inside containers, iteratively.
        mutating func scanDocument() -> Bool {
            while true {
                skipWhitespace()
                // A value, or the end of an empty container.
                switch current {
                case UInt8(ascii: "{"):
                    index += 1
                    skipWhitespace()
                    if consume(UInt8(ascii: "}")) { break }
                    open.append(true)
                    guard scanKey() else { return false }
                    continue
                case UInt8(ascii: "["):
                    index += 1
                    skipWhitespace()
                    if consume(UInt8(ascii: "]")) { break }
                    open.append(false)
                    continue
                case UInt8(ascii: "\""):
                    guard scanString() else { return false }
                case UInt8(ascii: "t"):
                    guard scanLiteral("true") else { return false }
                case UInt8(ascii: "f"):
                    guard scanLiteral("false") else { return false }
                case UInt8(ascii: "n"):
                    guard scanLiteral("null") else { return false }
                default:
                    guard scanNumber() else { return false }
                }
                // After a value: a separator, closers, or the end.
                while true {
                    skipWhitespace()
                    guard let isObject = open.last else {
                        return current == nil
                    }
                    if consume(UInt8(ascii: ",")) {
                        if isObject { guard scanKey() else { return false } }
                        break
                    }
                    guard consume(UInt8(ascii: isObject ? "}" : "]")) else { return false }
                    open.removeLast()
                }
            }
        }

        /// `"key" :` inside an object.
        mutating func scanKey() -> Bool {
            skipWhitespace()
            guard current == UInt8(ascii: "\""), scanString() else { return false }
            skipWhitespace()
            return consume(UInt8(ascii: ":"))
        }

        mutating func scanLiteral(_ word: StaticString) -> Bool {
            let length = word.utf8CodeUnitCount
            guard index + length <= bytes.count else { return false }
            for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += length
            return true
        }

        /// A string: no raw control characters, only JSON's escapes. (The text is already
        /// valid UTF-8: it came from a Swift String.)
        mutating func scanString() -> Bool {
            index += 1
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return true
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return false }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = current, Self.isHexDigit(hex) else { return false }
                            index += 1
                        }
                    default:
                        return false
                    }
                case 0x00..<0x20:
                    return false
                default:
                    continue
                }
            }
            return false
        }

        /// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        mutating func scanNumber() -> Bool {
            _ = consume(UInt8(ascii: "-"))
            if consume(UInt8(ascii: "0")) {
                // no leading zeros
            } else {
                guard scanDigits() else { return false }
            }
            if consume(UInt8(ascii: ".")) { guard scanDigits() else { return false } }
            if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
                if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
                guard scanDigits() else { return false }
            }
            return true
        }

        mutating func scanDigits() -> Bool {
            let start = index
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
            return index > start
        }

        static func isHexDigit(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }
    }
}
