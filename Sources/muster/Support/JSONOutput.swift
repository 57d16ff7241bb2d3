import Foundation
import Synchronization

/// JSON text embedded as is in the CLI's JSON output: payloads, headers' neighbours, execution
/// outputs. Exact (numbers keep every digit, nesting any depth: what PostgreSQL stored), and of
/// the type it was sent as. `Terminal.printJSON` encodes it as a placeholder string and then
/// swaps the placeholder for the text; under any other encoder it is a string.
struct RawJSON: Encodable {
    let text: String

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let embedding = encoder.userInfo[RawJSONEmbedding.key] as? RawJSONEmbedding {
            try container.encode(embedding.placeholder(for: text))
        } else {
            try container.encode(text)
        }
    }
}

/// The placeholders of one `Terminal.printJSON` call and the texts they stand for.
final class RawJSONEmbedding: Sendable {
    static let key = CodingUserInfoKey(rawValue: "muster.rawJSON")!

    /// Unique per output, so no string in the data can look like a placeholder.
    private let nonce = UUID().uuidString
    private let texts = Mutex<[String]>([])

    func placeholder(for text: String) -> String {
        let index = texts.withLock { texts in
            texts.append(text)
            return texts.count - 1
        }
        return "\(nonce)-\(index)"
    }

    /// `json` with each quoted placeholder replaced by its text.
    func substitute(in json: String) -> String {
        var output = json
        for (index, text) in texts.withLock({ $0 }).enumerated() {
            output = output.replacingOccurrences(of: "\"\(nonce)-\(index)\"", with: text)
        }
        return output
    }
}

/// An optional that appears in JSON output as `null` when absent, instead of a missing key
/// (what synthesized `Encodable` does), so every object of a kind has the same keys.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// A library value printed with every one of its stored properties, `null` for the absent
/// ones (synthesized `Encodable` leaves an absent optional's key out), under the property's
/// name. For the library's plain record types (workers, pending members, messages in flight,
/// timeline events, the reaper leader), whose coding keys are their property names.
struct NullPreserving<Value: Encodable>: Encodable {
    let value: Value

    init(_ value: Value) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: PropertyKey.self)
        for child in Mirror(reflecting: value).children {
            guard let label = child.label, let field = child.value as? any Encodable else { continue }
            try container.encode(AnyEncodable(field), forKey: PropertyKey(stringValue: label))
        }
    }

    private struct PropertyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// An existential `Encodable`, encoded through the same encoder (dates keep its strategy;
    /// an absent optional encodes as `null`).
    private struct AnyEncodable: Encodable {
        let wrapped: any Encodable
        init(_ wrapped: any Encodable) { self.wrapped = wrapped }
        func encode(to encoder: any Encoder) throws {
            // Through a container, not `wrapped.encode(to:)`: only a container applies the
            // encoder's date strategy.
            var container = encoder.singleValueContainer()
            try container.encode(wrapped)
        }
    }
}
