// Generates a Swift source that embeds migrations/*.sql, so the muster binary can migrate from
// any directory. Run by EmbedMigrationsPlugin at build time:
//   MigrationEmbedder OUTPUT.swift FILE.sql...
import Foundation

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: MigrationEmbedder OUTPUT.swift FILE.sql...\n".utf8))
    exit(2)
}

/// A Swift string literal that reproduces `text` byte for byte.
func literal(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\"": result += "\\\""
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            result += "\\u{\(String(scalar.value, radix: 16))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

var source = """
// Generated at build time by MigrationEmbedder from migrations/*.sql. Do not edit.

/// The migration files of this build, by file name, in file-name order.
enum EmbeddedMigrationFiles {
    static let all: [(fileName: String, sql: String)] = [

"""
for path in arguments.dropFirst().sorted(by: { ($0 as NSString).lastPathComponent < ($1 as NSString).lastPathComponent }) {
    let name = (path as NSString).lastPathComponent
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        FileHandle.standardError.write(Data("MigrationEmbedder: cannot read \(path) as UTF-8\n".utf8))
        exit(1)
    }
    source += "        (\(literal(name)), \(literal(text))),\n"
}
source += "    ]\n}\n"

let outputURL = URL(fileURLWithPath: output)
if (try? String(contentsOf: outputURL, encoding: .utf8)) != source {
    try source.write(to: outputURL, atomically: true, encoding: .utf8)
}
