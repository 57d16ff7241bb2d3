import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `muster metrics` or `muster dashboard` process on a free port, and plain HTTP to it.
struct WebEndpoint {
    let process: ChildProcess
    let base: String

    /// Starts `muster <arguments> <listenOption> 127.0.0.1:0`, runs `body` once it listens,
    /// stops it.
    static func with<T>(_ arguments: [String], listenOption: String = "--listen", _ body: (WebEndpoint) async throws -> T) async throws -> T {
        let process = try ChildProcess(arguments + [listenOption, "127.0.0.1:0"])
        defer { process.kill(SIGKILL) }
        var base: String?
        try await waitUntil("\(arguments[0]) listening (\(process.output()))", timeout: .seconds(30)) {
            base = process.output().split(separator: "\n").first { $0.hasPrefix("serving ") }
                .flatMap { $0.split(separator: " ").last }.map(String.init)
            return base != nil
        }
        let endpoint = WebEndpoint(process: process, base: try #require(base))
        let value = try await body(endpoint)
        process.kill(SIGTERM)
        _ = await process.wait()
        return value
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// GET or POST (form-encoded `form`) `path`, following no redirect.
    func request(_ path: String, method: String = "GET", form: [String: String]? = nil, headers: [String: String] = [:]) async throws -> Response {
        var request = URLRequest(url: try #require(URL(string: base + path)))
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let form {
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                .joined(separator: "&").utf8)
        }
        let (data, response) = try await URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil).data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var names: [String: String] = [:]
        for (name, value) in http.allHeaderFields { names["\(name)".lowercased()] = "\(value)" }
        return Response(status: http.statusCode, headers: names, body: String(decoding: data, as: UTF8.self))
    }

    final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }
}

/// A real headless browser: Debian's chromium (installed by scripts/ensure-postgres.sh's
/// caller, scripts/test.sh), loading a page and printing the DOM it built.
enum Browser {
    static var path: String {
        ProcessInfo.processInfo.environment["MUSTER_TEST_CHROMIUM"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/chromium"
    }

    /// The DOM of `url` after the page loaded and ran its scripts.
    static func dom(_ url: String) async throws -> String {
        let profile = FileManager.default.temporaryDirectory.appending(path: "muster-chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let browser = try ChildProcess([
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profile)", "--virtual-time-budget=2000", "--dump-dom", url,
        ], executable: path)
        let status = await browser.wait()
        let output = browser.output()
        guard status == 0, let start = output.range(of: "<html") else {
            throw BrowserFailed(description: "chromium exited \(status) for \(url): \(output.suffix(2000))")
        }
        return String(output[start.lowerBound...])
    }

    struct BrowserFailed: Error, CustomStringConvertible { var description: String }
}
