public import Foundation

/// An HTTP request as Muster's endpoints see it (the server adapts its own type to this, so
/// the endpoints and their tests do not depend on the HTTP library).
public struct WebRequest: Sendable {
    public var method: String
    /// The path without the query, percent-decoded (`/queues/emails`).
    public var path: String
    /// Query parameters (the last value wins for a repeated name).
    public var query: [String: String]
    /// Header values by lowercased name.
    public var headers: [String: String]
    public var body: Data

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: Data = Data()) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The path's segments: `/queues/emails` → `["queues", "emails"]`.
    var segments: [String] { path.split(separator: "/").map(String.init) }

    /// The fields of an `application/x-www-form-urlencoded` body.
    var form: [String: String] { Self.decodeForm(String(decoding: body, as: UTF8.self)) }

    /// A cookie's value from the `Cookie` header.
    func cookie(_ name: String) -> String? {
        for pair in (headers["cookie"] ?? "").split(separator: ";") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]) }
        }
        return nil
    }

    /// Decodes `a=1&b=two+words` (plus as space, percent escapes); undecodable pairs are skipped.
    static func decodeForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? { part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { continue }
            fields[name] = value
        }
        return fields
    }
}

/// An HTTP response: status, headers and body.
public struct WebResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a text body of `contentType` (UTF-8).
    public static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> WebResponse {
        WebResponse(status: status, headers: [("Content-Type", contentType)], body: Data(text.utf8))
    }

    /// See-other to `location` (after a POST, so reloading does not repeat it).
    public static func redirect(to location: String, headers: [(name: String, value: String)] = []) -> WebResponse {
        WebResponse(status: 303, headers: [("Location", location)] + headers)
    }
}
