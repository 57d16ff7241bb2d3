import Foundation
import Muster

/// The demo's live progress on stderr: on a terminal, a bar per stage redrawn in place;
/// otherwise a plain line every couple of seconds.
struct DemoProgress {
    /// Stage names and how many members each will have in total.
    let stages: [(name: String, members: Int)]
    let executions: Int
    let isTerminal: Bool
    private var linesDrawn = 0
    private var lastPlain: ContinuousClock.Instant?

    init(stages: [(name: String, members: Int)], executions: Int) {
        self.stages = stages
        self.executions = executions
        self.isTerminal = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// How often the loop should sample.
    var interval: Duration { isTerminal ? .milliseconds(200) : .milliseconds(500) }

    /// Shows `stats`, `elapsed` seconds into the run, with chaos counters when there are any.
    mutating func show(_ stats: ExecutionSetStats, elapsed: Double, chaos: DemoChaos.Counts?, final: Bool = false) {
        let finished = stats.count(.completed) + stats.count(.failed) + stats.count(.canceled)
        let rate = elapsed > 0 ? Double(stats.messagesArchived) / elapsed : 0
        var status = "executions \(finished)/\(executions) · \(Self.number(stats.messagesArchived)) messages · "
            + "\(Self.number(Int(rate))) msg/s · retries \(stats.retries) · dead letters \(stats.deadLetters) · "
            + String(format: "%.1f s", elapsed)
        if let chaos { status += " · chaos: \(chaos.kills) killed, \(chaos.terminations) connections cut" }
        let done = stages.map { stage in stats.stages.first { $0.name == stage.name }?.membersDone ?? 0 }
        if isTerminal {
            var lines = zip(stages, done).map { stage, done in Self.bar(stage.name, done: done, total: stage.members) }
            lines.append(status)
            var text = linesDrawn > 0 ? "\u{1B}[\(linesDrawn)A" : ""
            text += lines.map { "\u{1B}[2K" + $0 }.joined(separator: "\n") + "\n"
            FileHandle.standardError.write(Data(text.utf8))
            linesDrawn = lines.count
            return
        }
        let now = ContinuousClock.now
        guard final || lastPlain.map({ now - $0 >= .seconds(2) }) ?? true else { return }
        lastPlain = now
        let parts = zip(stages, done).map { "\($0.name) \($1)/\($0.members)" }.joined(separator: ", ")
        Terminal.note("progress: \(parts); \(status)")
    }

    private static func bar(_ name: String, done: Int, total: Int) -> String {
        let width = 30
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let label = name.padding(toLength: 10, withPad: " ", startingAt: 0)
        return "\(label) \(bar) \(String(format: "%3d%%", Int(fraction * 100)))  \(number(done))/\(number(total))"
    }

    /// 12,345.
    static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
