import Foundation

/// Human durations for the CLI and configuration: `250ms`, `30s`, `5m`, `2h`, `7d`, or a
/// sum of them (`1h30m`). A bare number means seconds.
public enum DurationText {
    /// Parses `text`; throws `MusterError.invalidArgument` naming the accepted forms.
    public static func parse(_ text: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func fail() -> MusterError {
            MusterError(.invalidArgument, "invalid duration \(String(reflecting: String(trimmed.prefix(40)))): use e.g. 250ms, 30s, 5m, 2h, 7d")
        }
        guard !trimmed.isEmpty else { throw fail() }
        if let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 {
            // Under about 31,000 years, as with units: a larger number would trap converting to Int64.
            guard seconds * 1000 < 1e15 else { throw fail() }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var total = Duration.zero
        var number = ""
        var unit = ""
        func flush() throws {
            guard let value = Double(number), value.isFinite, value >= 0 else { throw fail() }
            let milliseconds: Double
            switch unit {
            case "ms": milliseconds = value
            case "s": milliseconds = value * 1000
            case "m": milliseconds = value * 60_000
            case "h": milliseconds = value * 3_600_000
            case "d": milliseconds = value * 86_400_000
            default: throw fail()
            }
            guard milliseconds < 1e15 else { throw fail() }
            total += .milliseconds(Int64(milliseconds.rounded()))
            number = ""
            unit = ""
        }
        for character in trimmed {
            if character.isNumber || character == "." {
                if !unit.isEmpty { try flush() }
                number.append(character)
            } else if character.isLetter {
                guard !number.isEmpty else { throw fail() }
                unit.append(character)
            } else {
                throw fail()
            }
        }
        guard !unit.isEmpty else { throw fail() }
        try flush()
        return total
    }

    /// The shortest exact form: `30s`, `1500ms`, `7d`.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where milliseconds != 0 && milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
