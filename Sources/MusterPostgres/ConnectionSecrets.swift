import Foundation

/// Finds the passwords a connection string's text holds without libpq, so that an error about
/// text libpq could not parse never repeats them: libpq's parse errors quote the input.
///
/// Looks for a URL's password (the userinfo after its first `:`, up to the last `@` before
/// the query), a `password` query parameter, and a conninfo `password=` value, quoted or not.
/// It errs on the side of hiding: a malformed string yields whatever looks like a password.
package enum ConnectionSecrets {
    /// The password texts in `text`, raw and percent-decoded.
    package static func find(in text: String) -> [String] {
        var found: [String] = []
        let lower = text.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://"), let scheme = text.range(of: "://") {
            let rest = text[scheme.upperBound...]
            let authority = rest.prefix { $0 != "?" }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                found.append(String(authority[authority.index(after: colon)..<at]))
            }
            if let query = rest.firstIndex(of: "?") {
                for parameter in rest[rest.index(after: query)...].split(separator: "&") {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    if pair.count == 2, pair[0].lowercased() == "password" { found.append(String(pair[1])) }
                }
            }
        } else {
            found += conninfoPasswords(in: text)
        }
        let decoded = found.compactMap { $0.removingPercentEncoding }
        return Array(Set((found + decoded).filter { !$0.isEmpty }))
    }

    /// `message` with every password of `text` replaced by `*****` (longest first, so a
    /// password that contains another is hidden whole).
    package static func redact(_ message: String, secretsOf text: String) -> String {
        find(in: text).sorted { $0.count > $1.count }.reduce(message) { $0.replacingOccurrences(of: $1, with: "*****") }
    }

    /// Values of `password = value` in a conninfo string: quoted (with `\` escapes) or up
    /// to the next space.
    private static func conninfoPasswords(in text: String) -> [String] {
        var found: [String] = []
        var rest = Substring(text)
        while let key = rest.range(of: "password", options: .caseInsensitive) {
            rest = rest[key.upperBound...].drop { $0 == " " }
            guard rest.first == "=" else { continue }
            rest = rest.dropFirst().drop { $0 == " " }
            if rest.first == "'" {
                var value = "", escaped = false
                var index = rest.index(after: rest.startIndex)
                while index < rest.endIndex {
                    let character = rest[index]
                    index = rest.index(after: index)
                    if escaped { value.append(character); escaped = false }
                    else if character == "\\" { escaped = true }
                    else if character == "'" { break }
                    else { value.append(character) }
                }
                found.append(value)
                // The raw quoted text too, as a parse error would quote it.
                found.append(String(rest[rest.startIndex..<index]))
                rest = rest[index...]
            } else {
                let value = rest.prefix { $0 != " " }
                found.append(String(value))
                rest = rest[value.endIndex...]
            }
        }
        return found
    }
}
