import Foundation
import Muster
@testable import MusterWeb
import Testing

/// The pure parts of `muster metrics` and `muster dashboard`: exposition text, addresses,
/// escaping, cursors, forms and the token comparison.
@Suite struct MonitoringRenderingTests {
    @Test func prometheusTextHasHelpTypeAndEscapedLabels() {
        let text = PrometheusText.render([
            DatabaseMetric(name: "queue_ready", labels: ["queue": #"we"ird\q"#], value: 12, estimated: false),
            DatabaseMetric(name: "queue_ready", labels: ["queue": "b"], value: 100_000, estimated: true),
            DatabaseMetric(name: "queue_oldest_ready_age_seconds", labels: ["queue": "b"], value: 1.5, estimated: false),
            DatabaseMetric(name: "executions", labels: ["status": "running"], value: 3, estimated: false),
        ], scrapeSeconds: 0.25)
        #expect(text.contains("# HELP muster_queue_ready "))
        #expect(text.contains("# TYPE muster_queue_ready gauge\n"))
        #expect(text.contains(#"muster_queue_ready{queue="we\"ird\\q"} 12"#))
        #expect(text.contains("muster_queue_ready{queue=\"b\"} 100000\n"))
        #expect(text.contains("muster_queue_oldest_ready_age_seconds{queue=\"b\"} 1.5\n"))
        #expect(text.contains("muster_executions{status=\"running\"} 3\n"))
        #expect(text.contains("muster_up 1\n") && text.contains("muster_counts_estimated 1\n"))
        #expect(text.contains("muster_scrape_duration_seconds 0.25\n"))
        // One HELP per family, even with several samples.
        #expect(text.components(separatedBy: "# HELP muster_queue_ready ").count == 2)
    }

    @Test func aFamilyThisBinaryDoesNotKnowIsStillExported() {
        let text = PrometheusText.render([DatabaseMetric(name: "queue_future", labels: ["queue": "a"], value: 2, estimated: false)], scrapeSeconds: 0)
        #expect(text.contains("# TYPE muster_queue_future gauge\nmuster_queue_future{queue=\"a\"} 2\n"))
    }

    @Test func aFailedScrapeSaysDownAndNothingElse() {
        let text = PrometheusText.render(nil, scrapeSeconds: 5)
        #expect(text.contains("muster_up 0\n"))
        #expect(!text.contains("muster_queue_ready"))
    }

    @Test func listenAddressesParseAndRefuseWhatCannotBind() {
        #expect(ListenAddress("127.0.0.1:9464")?.description == "127.0.0.1:9464")
        #expect(ListenAddress("127.0.0.1:9464")?.isLoopback == true)
        #expect(ListenAddress("0.0.0.0:0")?.isLoopback == false)
        #expect(ListenAddress("[::1]:8080")?.description == "[::1]:8080")
        #expect(ListenAddress("[::1]:8080")?.isLoopback == true)
        #expect(ListenAddress("localhost:80")?.host == .ipv4("127.0.0.1"))
        for bad in ["", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "300.0.0.1:80", "1.2.3:80", "host:80", "[::1]8080", "[]:80", "[x]:80", "127.0.0.1:-1"] {
            #expect(ListenAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func htmlEscapesEverythingThatCouldOpenMarkup() {
        #expect(HTML.escape(#"<script>alert("x") & 'y'</script>"#) == "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;")
        #expect(HTML.link("/a?b=\"c\"", "<b>") == #"<a href="/a?b=&quot;c&quot;">&lt;b&gt;</a>"#)
        #expect(HTML.table(["h"], [], empty: "<none>") == "<p class=\"empty\">&lt;none&gt;</p>")
    }

    @Test func executionCursorsRoundTripThroughTheirToken() throws {
        let cursor = ExecutionCursor(createdAt: Date(timeIntervalSince1970: 1_764_000_000.123456), id: UUID())
        let parsed = try #require(ExecutionCursor(token: cursor.token))
        #expect(parsed.id == cursor.id)
        #expect(abs(parsed.createdAt.timeIntervalSince(cursor.createdAt)) < 0.000_001)
        for bad in ["", "123", "abc_\(UUID().uuidString)", "123_not-a-uuid"] {
            #expect(ExecutionCursor(token: bad) == nil, "\(bad)")
        }
    }

    @Test func formsDecodePlusAndPercentEscapes() {
        #expect(WebRequest.decodeForm("queue=a+b&id=42&token=%3Bx%3D") == ["queue": "a b", "id": "42", "token": ";x="])
        #expect(WebRequest.decodeForm("broken=%zz&ok=1") == ["ok": "1"])
        let request = WebRequest(method: "POST", path: "/", headers: ["cookie": "a=1; muster_dashboard_token=s%3B; b=2"])
        #expect(request.cookie("muster_dashboard_token") == "s%3B")
        #expect(request.cookie("missing") == nil)
    }

    @Test func serverTimingMillisecondsHaveTwoDecimals() {
        #expect(DatabaseTime.milliseconds(.milliseconds(12) + .microseconds(340)) == "12.34")
        #expect(DatabaseTime.milliseconds(.microseconds(5_050)) == "5.05")
        #expect(DatabaseTime.milliseconds(.zero) == "0.00")
        #expect(DatabaseTime.milliseconds(.seconds(2)) == "2000.00")
    }

    @Test func tokensCompareWholly() {
        #expect(Dashboard.same("s3cret", "s3cret"))
        #expect(!Dashboard.same("s3cret", "s3cre"))
        #expect(!Dashboard.same("s3cret", "s3cret!"))
        #expect(!Dashboard.same("", "x"))
        #expect(!Dashboard.same("S3cret", "s3cret"))
    }
}
