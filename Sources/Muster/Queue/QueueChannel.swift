internal import MusterPostgres

/// The LISTEN/NOTIFY channel of a queue. Must match `notify_channel()` in the schema.
enum QueueChannel {
    static func identifier(schema: SchemaName, queue: QueueName) -> SQLIdentifier {
        SQLIdentifier(name(schema: schema.name, queue: queue.rawValue))!
    }

    static func name(schema: String, queue: String) -> String {
        "muster_placeholder"
    }
}
