/// The library's version, and the schema version it runs against.
public enum MusterVersion {
    /// This release of the library and the `muster` tool.
    public static let current = "0.1.0"
    /// The schema version (last bundled migration) this build expects; a worker refuses any
    /// other (`schemaOutdated` / `schemaTooNew`).
    public static var schema: Int { Migration.bundled.last?.version ?? 0 }
    /// `0.1.0 (schema 10)`.
    public static var description: String { "\(current) (schema \(schema))" }
}
