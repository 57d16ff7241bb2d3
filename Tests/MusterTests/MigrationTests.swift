import Foundation
import Testing
@testable import Muster
@testable import MusterPostgres

@Suite struct MigrationTests {
    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hexDigest(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let twoBlocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hexDigest(Array(twoBlocks.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func fileNamesAreParsed() throws {
        let migration = try Migration(fileName: "0002_queue_core.sql", sql: "select 1;")
        #expect(migration.version == 2)
        #expect(migration.name == "queue_core")
        #expect(migration.checksum == SHA256.hexDigest(Array("select 1;".utf8)))
    }

    @Test(arguments: ["2_queue.sql", "0002-queue.sql", "0002_Queue.sql", "0002_.sql", "0002_queue.txt", "abcd_queue.sql", "0000_zero.sql"])
    func badFileNamesAreRefused(_ name: String) {
        let error = #expect(throws: MusterError.self) { try Migration(fileName: name, sql: "") }
        #expect(error?.code == .invalidMigrationFile)
    }

    @Test func migrationsAreOrderedByVersionAndDuplicatesRefused() throws {
        let ordered = try Migration.ordered([
            Migration(fileName: "0010_c.sql", sql: ""), Migration(fileName: "0002_b.sql", sql: ""), Migration(fileName: "0001_a.sql", sql: ""),
        ])
        #expect(ordered.map(\.version) == [1, 2, 10])
        #expect(throws: MusterError.self) {
            try Migration.ordered([Migration(fileName: "0001_a.sql", sql: ""), Migration(fileName: "0001_b.sql", sql: "")])
        }
    }

    @Test func planMarksAppliedPendingModifiedAndUnknown() throws {
        let one = try Migration(fileName: "0001_a.sql", sql: "create table a();")
        let two = try Migration(fileName: "0002_b.sql", sql: "create table b();")
        let three = try Migration(fileName: "0003_c.sql", sql: "create table c();")
        func record(_ migration: Migration, checksum: String? = nil) -> AppliedMigration {
            AppliedMigration(version: migration.version, name: migration.name, checksum: checksum ?? migration.checksum,
                             appliedAt: Date(), appliedBy: "t", durationMilliseconds: 1)
        }
        let fresh = MigrationPlan(available: [one, two], applied: [record(one)])
        #expect(fresh.statuses.map(\.state) == [.applied, .pending])
        #expect(fresh.pending == [two])
        try fresh.validate()
        #expect(throws: MusterError.self) { try fresh.requireCurrent() }

        let tampered = MigrationPlan(available: [one, two], applied: [record(one, checksum: "0000")])
        #expect(tampered.statuses.first?.state == .modified)
        let error = #expect(throws: MusterError.self) { try tampered.validate() }
        #expect(error?.code == .migrationModified)
        #expect(error?.message.contains("0001_a.sql") == true)

        let newer = MigrationPlan(available: [one], applied: [record(one), record(three)])
        #expect(newer.statuses.map(\.state) == [.applied, .unknown])
        #expect((#expect(throws: MusterError.self) { try newer.validate() })?.code == .schemaTooNew)

        try MigrationPlan(available: [one, two], applied: [record(one), record(two)]).requireCurrent()
    }

    @Test func errorPositionsBecomeLinesAndColumns() {
        let sql = "create table a();\ncreate tabel b();\n"
        #expect(Migrator.lineAndColumn(of: 19, in: sql) == (2, 1))
        #expect(Migrator.lineAndColumn(of: 26, in: sql) == (2, 8))
    }

    /// The binary's embedded copy must equal the repository's files, byte for byte.
    @Test func embeddedMigrationsMatchTheRepositoryFiles() throws {
        let directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(Migration.bundled.map(\.fileName) == files)
        for migration in Migration.bundled {
            let onDisk = try String(contentsOf: directory.appending(path: migration.fileName), encoding: .utf8)
            #expect(migration.sql == onDisk, "embedded \(migration.fileName) differs from the file")
        }
    }
}
