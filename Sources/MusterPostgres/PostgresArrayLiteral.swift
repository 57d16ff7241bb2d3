/// Text form of one-dimensional PostgreSQL arrays: `{1,2,NULL}`, `{"a b","c\"d"}`.
package enum PostgresArrayLiteral {
    /// Formats items (nil = NULL) as an array literal; every non-NULL item is double-quoted,
    /// with `"` and `\` escaped, so no item can change the literal's structure.
    package static func format(_ items: [String?]) -> String {
        // Byte-level: iterating Characters (grapheme clusters) is an order of magnitude slower,
        // and batches of payloads pass through here on every send.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + items.reduce(0) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (position, item) in items.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let item else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            for byte in item.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses a one-dimensional array literal into its items (nil = NULL).
    package static func parse(_ text: String) throws -> [String?] {
        let bytes = Array(text.utf8)
        func fail() -> PostgresError {
            PostgresError(kind: .decoding, message: "not a one-dimensional array literal")
        }
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else { throw fail() }
        if bytes.count == 2 { return [] }
        var items: [String?] = []
        var index = 1
        while index < bytes.count - 1 {
            var item: [UInt8] = []
            var quoted = false
            if bytes[index] == UInt8(ascii: "\"") {
                quoted = true
                index += 1
                while index < bytes.count - 1, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    item.append(bytes[index])
                    index += 1
                }
                guard index < bytes.count - 1 else { throw fail() }
                index += 1
            } else {
                while index < bytes.count - 1, bytes[index] != UInt8(ascii: ",") {
                    guard bytes[index] != UInt8(ascii: "{") else { throw fail() }
                    item.append(bytes[index])
                    index += 1
                }
            }
            let value = String(decoding: item, as: UTF8.self)
            items.append(!quoted && value == "NULL" ? nil : value)
            if index < bytes.count - 1 {
                guard bytes[index] == UInt8(ascii: ",") else { throw fail() }
                index += 1
            }
        }
        return items
    }
}
