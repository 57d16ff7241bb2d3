/// One schema migration: a file `NNNN_description.sql` from `migrations/`, embedded in the
/// binary at build time.
///
/// Files run in order of `version`, each in its own transaction, with `search_path` set to
/// the target schema, so they name no schema. They must not contain transaction control.
public struct Migration: Sendable, Hashable {
    /// The number before the first `_` (`2` for `0002_queue.sql`).
    public let version: Int
    /// The description after the number (`queue`).
    public let name: String
    /// The file's name (`0002_queue.sql`).
    public let fileName: String
    /// The file's SQL text, exactly as in the repository.
    public let sql: String
    /// SHA-256 of the file's UTF-8 bytes, lowercase hex. An applied migration whose checksum
    /// no longer matches is refused. Computed when asked (by the migrator's checks), not when
    /// the binary starts: every `muster` command would otherwise hash every migration.
    public var checksum: String { SHA256.hexDigest(Array(sql.utf8)) }

    /// Validates the file name (`NNNN_lowercase_words.sql`).
    /// Throws `MusterError.invalidMigrationFile`.
    public init(fileName: String, sql: String) throws {
        guard let parsed = Self.parse(fileName: fileName) else {
            throw MusterError(
                .invalidMigrationFile,
                "migration file \(fileName) is not named NNNN_description.sql (digits, then lowercase letters, digits or _)"
            )
        }
        self.version = parsed.version
        self.name = parsed.name
        self.fileName = fileName
        self.sql = sql
    }

    /// Splits `0002_queue.sql` into (2, "queue"); nil when the name does not follow the rule.
    static func parse(fileName: String) -> (version: Int, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 4, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let version = Int(digits), version > 0,
              !name.isEmpty,
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else { return nil }
        return (version, String(name))
    }

    /// Sorts migrations by version and checks that no version appears twice.
    /// Throws `MusterError.invalidMigrationFile` naming both files.
    public static func ordered(_ migrations: [Migration]) throws -> [Migration] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw MusterError(
                .invalidMigrationFile,
                "migrations \(previous.fileName) and \(next.fileName) share version \(next.version)"
            )
        }
        return sorted
    }

    /// The migrations this binary was built with, in order.
    public static let bundled: [Migration] = {
        do {
            return try ordered(EmbeddedMigrationFiles.all.map { try Migration(fileName: $0.fileName, sql: $0.sql) })
        } catch {
            // The build embeds the repository's files; a bad name there is a build defect
            // that the unit tests catch before release.
            preconditionFailure("embedded migrations are invalid: \(error)")
        }
    }()
}
