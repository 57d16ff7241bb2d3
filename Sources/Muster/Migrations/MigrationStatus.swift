public import Foundation

/// A migration as recorded in `<schema>.schema_migrations`.
public struct AppliedMigration: Sendable, Hashable, Codable {
    public var version: Int
    public var name: String
    public var checksum: String
    public var appliedAt: Date
    public var appliedBy: String
    public var durationMilliseconds: Int

    public init(version: Int, name: String, checksum: String, appliedAt: Date, appliedBy: String, durationMilliseconds: Int) {
        self.version = version
        self.name = name
        self.checksum = checksum
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.durationMilliseconds = durationMilliseconds
    }
}

/// Where one migration stands in one database.
public struct MigrationStatus: Sendable, Hashable, Codable {
    /// `applied`, `pending`, `modified` (applied, but the file changed since) or `unknown`
    /// (applied, but this binary has no such file: the database is newer).
    public struct State: Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public static let applied = State("applied")
        public static let pending = State("pending")
        public static let modified = State("modified")
        public static let unknown = State("unknown")
        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    public var version: Int
    public var name: String
    public var state: State
    public var appliedAt: Date?

    public init(version: Int, name: String, state: State, appliedAt: Date?) {
        self.version = version
        self.name = name
        self.state = state
        self.appliedAt = appliedAt
    }
}

/// Pure comparison of the files a binary carries with what a database recorded.
struct MigrationPlan: Sendable {
    /// Every migration known to either side, ordered by version.
    let statuses: [MigrationStatus]
    /// Migrations to apply, in order.
    let pending: [Migration]
    private let available: [Migration]
    private let applied: [AppliedMigration]

    init(available: [Migration], applied: [AppliedMigration]) {
        self.available = available
        self.applied = applied
        let appliedByVersion = Dictionary(applied.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        let availableVersions = Set(available.map(\.version))
        var statuses = available.map { migration -> MigrationStatus in
            guard let record = appliedByVersion[migration.version] else {
                return MigrationStatus(version: migration.version, name: migration.name, state: .pending, appliedAt: nil)
            }
            let state: MigrationStatus.State = record.checksum == migration.checksum ? .applied : .modified
            return MigrationStatus(version: migration.version, name: migration.name, state: state, appliedAt: record.appliedAt)
        }
        statuses += applied.filter { !availableVersions.contains($0.version) }.map {
            MigrationStatus(version: $0.version, name: $0.name, state: .unknown, appliedAt: $0.appliedAt)
        }
        self.statuses = statuses.sorted { $0.version < $1.version }
        self.pending = available.filter { appliedByVersion[$0.version] == nil }
    }

    /// Throws when applying would be unsafe: a changed applied file (named), or a database
    /// that has migrations this binary does not know. Checked before anything is applied.
    func validate() throws {
        if let modified = statuses.first(where: { $0.state == .modified }),
           let file = available.first(where: { $0.version == modified.version }) {
            throw MusterError(
                .migrationModified,
                "migration \(file.fileName) was changed after it was applied (checksum differs); restore the file, or write a new migration instead of editing an applied one"
            )
        }
        if let unknown = statuses.first(where: { $0.state == .unknown }) {
            let newestKnown = available.last.map { "\($0.version)" } ?? "none"
            throw MusterError(
                .schemaTooNew,
                "the database has migration \(unknown.version) (\(unknown.name)), which this binary does not know (it knows up to \(newestKnown)): upgrade muster"
            )
        }
    }

    /// Throws unless every known migration is applied and nothing unknown is: what a worker
    /// checks before it starts.
    func requireCurrent() throws {
        try validate()
        if let first = pending.first {
            throw MusterError(
                .schemaOutdated,
                "the database schema is at version \(applied.map(\.version).max() ?? 0), this binary needs \(available.last?.version ?? 0) (first missing: \(first.fileName)): run `muster migrate`"
            )
        }
    }
}
