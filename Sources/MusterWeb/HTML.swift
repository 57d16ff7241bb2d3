import Foundation

/// HTML text built from escaped parts: every value that came from the database (payloads,
/// errors, names) goes through `escape`, so a payload holding `<script>` shows as text.
enum HTML {
    /// Escapes `& < > " '` for element content and quoted attribute values.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Percent-encodes a path segment or query value.
    static func urlComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    /// A table: header cells and rows of cells that are already HTML.
    static func table(_ headers: [String], _ rows: [[String]], empty: String = "none") -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        let head = headers.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table>\n<thead><tr>\(head)</tr></thead>\n<tbody>\n\(body)\n</tbody>\n</table>"
    }

    /// A link whose target and text are escaped.
    static func link(_ href: String, _ text: String) -> String {
        "<a href=\"\(escape(href))\">\(escape(text))</a>"
    }

    /// A POST form with one button; `confirm` asks before submitting (app.js).
    static func action(_ path: String, _ label: String, fields: [String: String] = [:], confirm: String? = nil) -> String {
        let hidden = fields.sorted { $0.key < $1.key }
            .map { "<input type=\"hidden\" name=\"\(escape($0.key))\" value=\"\(escape($0.value))\">" }.joined()
        let ask = confirm.map { " data-confirm=\"\(escape($0))\"" } ?? ""
        return "<form method=\"post\" action=\"\(escape(path))\" class=\"action\"\(ask)>\(hidden)<button type=\"submit\">\(escape(label))</button></form>"
    }

    /// JSON text shown as preformatted text (escaped).
    static func code(_ text: String) -> String { "<pre>\(escape(text))</pre>" }

    /// A whole page: navigation, title, notice and content.
    static func page(title: String, notice: String? = nil, readOnly: Bool, signedIn: Bool, _ content: String) -> String {
        let nav = [("/", "Queues"), ("/executions", "Executions"), ("/dead-letters", "Dead letters"), ("/workers", "Workers"), ("/reaper", "Reaper")]
            .map { link($0.0, $0.1) }.joined(separator: " ")
        let mode = readOnly
            ? "<span class=\"mode\">read-only (start with --token to allow actions)</span>"
            : signedIn ? "<span class=\"mode\">actions allowed</span>"
            : "<form method=\"post\" action=\"/login\" class=\"action\"><input type=\"password\" name=\"token\" placeholder=\"token\" aria-label=\"token\"><button type=\"submit\">Sign in for actions</button></form>"
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Muster</title>
            <link rel="stylesheet" href="/style.css">
            <script src="/app.js" defer></script>
            </head>
            <body>
            <header><strong>Muster</strong> <nav>\(nav)</nav> \(mode)</header>
            <main>
            <h1>\(escape(title))</h1>
            \(notice.map { "<p class=\"notice\">\(escape($0))</p>" } ?? "")
            \(content)
            </main>
            </body>
            </html>
            """
    }

    static let stylesheet = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
        header { background: #263238; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: center; }
        header a { color: #cfd8dc; margin-right: 12px; }
        main { padding: 8px 16px; }
        table { border-collapse: collapse; margin: 8px 0 16px; }
        th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
        td.n, th.n { text-align: right; }
        pre { background: #f5f5f5; padding: 6px; max-width: 80ch; max-height: 20em; overflow: auto; white-space: pre-wrap; word-break: break-all; }
        form.action { display: inline; margin-right: 4px; }
        .notice { background: #fff3cd; padding: 6px; }
        .mode { margin-left: auto; font-size: 12px; }
        .empty { color: #777; }
        """

    /// The progressive enhancement: confirm before destructive actions. Pages work without it.
    static let script = """
        document.addEventListener("submit", function (event) {
          var question = event.target.getAttribute("data-confirm");
          if (question && !window.confirm(question)) { event.preventDefault(); }
        });
        """
}
