internal import MusterPostgres

/// The LISTEN/NOTIFY channel of a queue; the same rule as `notify_channel()` in
/// migrations/0002_queue.sql: `muster_<schema>_<queue>`, with every character outside
/// `[A-Za-z0-9_]` folded to `_`, cut to 63 bytes. A collision only causes a spurious wake-up.
enum QueueChannel {
    static func identifier(schema: SchemaName, queue: QueueName) -> SQLIdentifier {
        // Schema and queue names are ASCII by validation, so the result is a valid identifier.
        SQLIdentifier(name(schema: schema.name, queue: queue.rawValue))!
    }

    static func name(schema: String, queue: String) -> String {
        let folded = String(queue.unicodeScalars.map { scalar -> Character in
            scalar.properties.isASCIIHexDigit || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                || ("0"..."9").contains(scalar) || scalar == "_" ? Character(scalar) : "_"
        })
        return String("muster_\(schema)_\(folded)".prefix(63))
    }
}
