public import Foundation

/// A message payload (or header set): JSON text, validated when created.
///
/// Kept as text end to end, so the queue never decodes and re-encodes what it only carries.
public struct JSONPayload: Sendable, Hashable, CustomStringConvertible {
    /// The JSON text.
    public let text: String

    /// Validates `json` (one JSON value, any nesting depth: `JSONSyntax`); throws
    /// `MusterError.invalidArgument` when it is not JSON.
    public init(json: String) throws {
        guard JSONSyntax.isValid(json) else {
            throw MusterError(.invalidArgument, "payload is not valid JSON (\(json.utf8.count) bytes)")
        }
        self.text = json
    }

    /// Encodes `value` with `JSONEncoder`.
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        do {
            self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw MusterError(.invalidArgument, "payload of type \(T.self) does not encode as JSON")
        }
    }

    /// Text the server produced (already valid jsonb).
    init(trusted text: String) { self.text = text }

    /// `{}`.
    public static let emptyObject = JSONPayload(trusted: "{}")

    /// Decodes the payload; throws `invalidArgument` naming the type when it does not fit.
    public func decode<T: Decodable>(as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw MusterError(.invalidArgument, "payload does not decode as \(T.self)")
        }
    }

    /// The size the queue's payload limit is checked against.
    public var byteCount: Int { text.utf8.count }

    /// Deliberately not the content: payloads may hold private data.
    public var description: String { "JSONPayload(\(byteCount) bytes)" }
}

extension JSONPayload {
    /// Decodes from any JSON and keeps nothing: the input type of a handler that does not
    /// look at its payload (e.g. a callback that only needs the members' results).
    public struct Ignored: Decodable, Sendable {
        public init() {}
        public init(from decoder: any Decoder) throws {}
    }
}

extension JSONPayload {
    /// The payload read as message headers: an object's members, string values as they are
    /// and any other value as its JSON text. Not an object (headers written by SQL can be any
    /// jsonb): no headers. Never throws: one message's odd headers must not fail the read of
    /// a whole batch (a worker would retry that read forever).
    var asHeaders: [String: String] {
        if text == "{}" { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [String: Any] else {
            return [:]
        }
        return object.mapValues { value in
            if let string = value as? String { return string }
            guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "\(value)" }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
