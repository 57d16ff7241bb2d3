import Foundation
import Muster

/// The demo's workload: a corpus of generated documents, split into chunks. Everything is
/// derived from a seed, so a chunk is regenerated wherever it is processed and the expected
/// report can be computed directly, without Muster, to check the pipeline's output.
struct Corpus: Codable, Sendable, Hashable {
    var seed: UInt64
    /// Chunks in the corpus: the first stage's parts.
    var chunks: Int
    var chunksPerDocument: Int
    var wordsPerChunk: Int

    /// A corpus of `parts` chunks, `chunksPerDocument` to a document (the last may be shorter).
    init(seed: UInt64, parts: Int, chunksPerDocument: Int = 10, wordsPerChunk: Int = 400) {
        self.seed = seed
        self.chunks = parts
        self.chunksPerDocument = chunksPerDocument
        self.wordsPerChunk = wordsPerChunk
    }

    /// Documents in the corpus: the second stage's parts.
    var documents: Int { (chunks + chunksPerDocument - 1) / chunksPerDocument }

    /// Every chunk of every document, in order.
    var chunkRefs: [ChunkRef] {
        (0..<chunks).map { ChunkRef(seed: seed, document: $0 / chunksPerDocument, chunk: $0 % chunksPerDocument, words: wordsPerChunk) }
    }

    /// The report computed in one pass, without queues: what the pipeline must produce.
    func expectedReport() -> CorpusReport {
        let stats = chunkRefs.map { $0.count() }
        let documents = DocumentSet(chunks: stats)
        return CorpusReport(documents: documents, summaries: documents.documents.map { $0.summary() })
    }
}

/// One chunk of one document (the text is regenerated from these numbers).
struct ChunkRef: Codable, Sendable, Hashable {
    var seed: UInt64
    var document: Int
    var chunk: Int
    var words: Int

    /// The chunk's words: a Zipf-like draw from a fixed vocabulary.
    func text() -> [String] {
        var random = SeededRandom(seed: seed &+ UInt64(document) &* 1_000_003 &+ UInt64(chunk) &* 7_919)
        return (0..<words).map { _ in
            let u = Double(random.next() >> 11) / Double(1 << 53)
            return Vocabulary.words[min(Vocabulary.words.count - 1, Int(pow(u, 3) * Double(Vocabulary.words.count)))]
        }
    }

    /// Word counts of the chunk: the first stage's per-part work.
    func count() -> ChunkStats {
        var counts: [String: Int] = [:]
        let words = text()
        for word in words { counts[word, default: 0] += 1 }
        return ChunkStats(document: document, chunk: chunk, words: words.count, counts: counts)
    }
}

struct ChunkStats: Codable, Sendable, Hashable {
    var document: Int
    var chunk: Int
    var words: Int
    var counts: [String: Int]
}

/// Word counts per document: the first stage's aggregate, the second stage's input.
struct DocumentSet: Codable, Sendable, Hashable {
    var documents: [DocumentStats]

    init(chunks: [ChunkStats]) {
        documents = Dictionary(grouping: chunks, by: \.document).map { document, chunks in
            DocumentStats(
                document: document,
                chunks: chunks.count,
                words: chunks.map(\.words).reduce(0, +),
                counts: chunks.reduce(into: [:]) { total, chunk in total.merge(chunk.counts, uniquingKeysWith: +) }
            )
        }.sorted { $0.document < $1.document }
    }
}

struct DocumentStats: Codable, Sendable, Hashable {
    var document: Int
    var chunks: Int
    var words: Int
    var counts: [String: Int]

    /// The second stage's per-part work: a document's top words and vocabulary size.
    func summary() -> DocumentSummary {
        DocumentSummary(document: document, words: words, distinct: counts.count, top: WordCount.top(3, of: counts))
    }
}

struct DocumentSummary: Codable, Sendable, Hashable {
    var document: Int
    var words: Int
    var distinct: Int
    var top: [WordCount]
}

struct WordCount: Codable, Sendable, Hashable {
    var word: String
    var count: Int

    /// The `n` most frequent words, ties broken alphabetically.
    static func top(_ n: Int, of counts: [String: Int]) -> [WordCount] {
        counts.map { WordCount(word: $0.key, count: $0.value) }
            .sorted { ($0.count, $1.word) > ($1.count, $0.word) }
            .prefix(n).map { $0 }
    }
}

/// The pipeline's output: corpus totals and every document's summary.
struct CorpusReport: Codable, Sendable, Hashable {
    var documents: Int
    var words: Int
    var distinct: Int
    var top: [WordCount]
    var summaries: [DocumentSummary]

    init(documents set: DocumentSet, summaries: [DocumentSummary]) {
        let counts = set.documents.reduce(into: [String: Int]()) { $0.merge($1.counts, uniquingKeysWith: +) }
        documents = set.documents.count
        words = set.documents.map(\.words).reduce(0, +)
        distinct = counts.count
        top = WordCount.top(5, of: counts)
        self.summaries = summaries.sorted { $0.document < $1.document }
    }
}

/// 240 pronounceable made-up words.
enum Vocabulary {
    static let words: [String] = {
        let onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st"]
        let vowels = ["a", "e", "i", "o", "u"]
        let codas = ["", "n", "r"]
        return onsets.flatMap { onset in vowels.flatMap { vowel in codas.map { onset + vowel + $0 + "ka" } } }
    }()
}
