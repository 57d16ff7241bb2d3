package import Foundation

/// Formatting and parsing of `timestamptz` text in PostgreSQL's ISO style, without
/// `DateFormatter` (slow, locale-dependent) and to the microsecond.
package enum PostgresTimestamp {
    /// `1970-01-01 00:00:00.000000+00` style, always UTC.
    package static func format(_ date: Date) -> String {
        let totalMicros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var seconds = totalMicros / 1_000_000
        var micros = totalMicros % 1_000_000
        if micros < 0 { micros += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) "
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
            + ".\(pad(micros, 6))+00"
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff](+|-)HH[:MM[:SS]]`; `infinity` maps to the distant
    /// future and `-infinity` to the distant past.
    package static func parse(_ text: String) throws -> Date {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        let bytes = Array(text.utf8)
        var index = 0
        func fail() -> PostgresError {
            PostgresError(kind: .decoding, message: "not an ISO timestamptz: \(text.prefix(40))")
        }
        func number(_ width: Int) throws -> Int64 {
            guard index + width <= bytes.count else { throw fail() }
            var value: Int64 = 0
            for _ in 0..<width {
                let digit = bytes[index]
                guard digit >= 48 && digit <= 57 else { throw fail() }
                value = value * 10 + Int64(digit - 48)
                index += 1
            }
            return value
        }
        func expect(_ byte: UInt8) throws {
            guard index < bytes.count, bytes[index] == byte else { throw fail() }
            index += 1
        }
        let year = try number(4)
        try expect(UInt8(ascii: "-"))
        let month = try number(2)
        try expect(UInt8(ascii: "-"))
        let day = try number(2)
        guard index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "T") else {
            throw fail()
        }
        index += 1
        let hour = try number(2)
        try expect(UInt8(ascii: ":"))
        let minute = try number(2)
        try expect(UInt8(ascii: ":"))
        let second = try number(2)
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 6 { micros = micros * 10 + Int64(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if index < bytes.count {
            let sign: Int64
            switch bytes[index] {
            case UInt8(ascii: "+"): sign = 1
            case UInt8(ascii: "-"): sign = -1
            case UInt8(ascii: "Z"): sign = 0
            default: throw fail()
            }
            index += 1
            if sign != 0 {
                var offset = try number(2) * 3600
                if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                    index += 1
                    offset += try number(2) * 60
                    if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                        index += 1
                        offset += try number(2)
                    }
                }
                offsetSeconds = sign * offset
            }
        }
        guard index == bytes.count else { throw fail() }
        let days = try daysFromCivil(year: year, month: month, day: day, fail: fail)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    // Howard Hinnant's days-from-civil algorithm (proleptic Gregorian).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64, fail: () -> PostgresError) throws -> Int64 {
        guard (1...12).contains(month), (1...31).contains(day) else { throw fail() }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
