import Foundation
import Testing
@testable import MusterPostgres

@Suite struct ValueCodingTests {
    @Test func arrayLiteralsRoundTrip() throws {
        let items: [String?] = ["plain", "with space", "comma,inside", "quote\"inside", "back\\slash", nil, "NULL", ""]
        let text = PostgresArrayLiteral.format(items)
        #expect(try PostgresArrayLiteral.parse(text) == items)
    }

    @Test func serverStyleArraysParse() throws {
        #expect(try PostgresArrayLiteral.parse("{1,2,3}") == ["1", "2", "3"])
        #expect(try PostgresArrayLiteral.parse("{}") == [])
        #expect(try PostgresArrayLiteral.parse("{a,NULL,\"b c\"}") == ["a", nil, "b c"])
        #expect(try [Int64](postgresText: "{10,-2}") == [10, -2])
        #expect(throws: PostgresError.self) { try PostgresArrayLiteral.parse("{{1,2},{3,4}}") }
        #expect(throws: PostgresError.self) { try PostgresArrayLiteral.parse("1,2") }
    }

    @Test func timestampsRoundTripToTheMicrosecond() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let text = PostgresTimestamp.format(date)
        #expect(text == "2026-11-18 11:06:40.123456+00")
        #expect(abs(try PostgresTimestamp.parse(text).timeIntervalSince(date)) < 0.000_001)
    }

    @Test func timestampOffsetsAndShortFractionsParse() throws {
        let utc = try PostgresTimestamp.parse("2026-11-24 12:00:00+00")
        #expect(try PostgresTimestamp.parse("2026-11-24 14:30:00+02:30") == utc)
        #expect(try PostgresTimestamp.parse("2026-11-24 07:00:00-05") == utc)
        #expect(try PostgresTimestamp.parse("2026-11-24 12:00:00.5+00").timeIntervalSince(utc) == 0.5)
        #expect(try PostgresTimestamp.parse("1969-12-31 23:59:59+00").timeIntervalSince1970 == -1)
        #expect(try PostgresTimestamp.parse("infinity") == .distantFuture)
        #expect(throws: PostgresError.self) { try PostgresTimestamp.parse("24/11/2026") }
    }

    @Test func scalarsDecodeAndRejectGarbage() throws {
        #expect(try Int64(postgresText: "-9223372036854775808") == .min)
        #expect(throws: PostgresError.self) { try Int32(postgresText: "99999999999") }
        #expect(try Bool(postgresText: "t"))
        #expect(throws: PostgresError.self) { try Bool(postgresText: "yes") }
        #expect(try Double(postgresText: "NaN").isNaN)
        #expect(try PostgresBytes(postgresText: "\\x00ff10").bytes == [0, 255, 16])
        #expect(PostgresBytes([0, 255, 16]).postgresText == "\\x00ff10")
        #expect(Duration.milliseconds(1500).postgresText == "1500000 microseconds")
    }
}
