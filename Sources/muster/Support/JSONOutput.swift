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
