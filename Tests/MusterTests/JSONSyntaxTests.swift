import Foundation
import Testing
@testable import Muster

@Suite struct JSONSyntaxTests {
    @Test(arguments: [
        "0", "-0", "12", "-3.25", "1e9", "2E-3", "0.5e+2", "true", "false", "null", #""""#, #""a\"b\\c\/d\b\f\n\r\t\u00e9""#,
        "[]", "{}", " [ 1 , [ ] , { } ] ", #"{"a":{"b":[1,2,{"c":null}]},"d":"é 日本"}"#, "\n\t{\"k\" : [true,false]}\r\n",
    ])
    func acceptsJSON(_ text: String) {
        #expect(JSONSyntax.isValid(text), "\(text)")
    }

    @Test(arguments: [
        "", " ", "01", "1.", ".5", "-", "+1", "1e", "0x10", "nul", "True", "[1,]", "[,1]", "{\"a\"}", "{1:2}", "{\"a\":1,}",
        "[1 2]", "1 2", "[", "]", "{\"a\":[}", "\"abc", "\"a\tb\"", #""\x""#, #""\u12""#, #""\u12G4""#, "[1]]", "{}}", "'a'",
    ])
    func refusesWhatIsNotOneJSONValue(_ text: String) {
        #expect(!JSONSyntax.isValid(text), "\(text)")
    }

    /// PostgreSQL's jsonb nests deeper than Foundation's 512 levels: the library must accept
    /// what SQL can store, so depth is not limited (and costs no stack).
    @Test func nestingDepthIsNotLimited() {
        let depth = 100_000
        #expect(JSONSyntax.isValid(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)))
        #expect(JSONSyntax.isValid(String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)))
        #expect(!JSONSyntax.isValid(String(repeating: "[", count: depth) + String(repeating: "]", count: depth - 1)))
    }

    /// Seeded differential check against Foundation on shallow documents: random token
    /// sequences, valid or not, get the same answer from both. (No exponents: `3e2010` is
    /// valid JSON, and jsonb stores it, but Foundation refuses numbers a Double cannot hold.)
    @Test func agreesWithFoundationOnShallowDocuments() {
        var generator = SeededRandom(seed: 0x6d75_7374_6572)
        let tokens = ["{", "}", "[", "]", ",", ":", "\"k\"", "\"v\"", "1", "-2.5", "true", "null", " ", "0", "01", "\"\\u0041\""]
        var valid = 0
        for _ in 0..<5_000 {
            let count = Int(generator.next() % 8) + 1
            let text = (0..<count).map { _ in tokens[Int(generator.next() % UInt64(tokens.count))] }.joined()
            let foundation = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
            #expect(JSONSyntax.isValid(text) == foundation, "\(text)")
            if foundation { valid += 1 }
        }
        #expect(valid > 300)
    }
}
