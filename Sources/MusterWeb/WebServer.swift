import FlyingFox
import FlyingSocks
import Foundation
public import Logging
public import ServiceLifecycle

/// Serves one endpoint handler over HTTP/1.1 on `address` (FlyingFox: plain sockets and Swift
/// concurrency) until graceful shutdown, which closes the listener and its connections.
/// Request bodies are capped at 64 KiB (the endpoints take small forms); an idle connection
/// is closed after 15 s.
public struct WebServer: Service {
    public typealias Handler = @Sendable (WebRequest) async -> WebResponse

    let address: ListenAddress
    let logger: Logger
    let handler: Handler
    let listening: @Sendable (String) -> Void

    /// - Parameter listening: called once with `host:port` when the socket listens (port 0
    ///   resolved to the one the system chose).
    public init(address: ListenAddress, logger: Logger, listening: @escaping @Sendable (String) -> Void = { _ in }, handler: @escaping Handler) {
        self.address = address
        self.logger = logger
        self.listening = listening
        self.handler = handler
    }

    public func run() async throws {
        let socketAddress: any SocketAddress = switch address.host {
        case .ipv4(let ip): try sockaddr_in.inet(ip4: ip, port: address.port)
        case .ipv6(let ip): try sockaddr_in6.inet6(ip6: ip, port: address.port)
        }
        let server = HTTPServer(address: socketAddress, timeout: 15, logger: DebugLogging(logger: logger), handler: Adapter(handler: handler))
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                try await server.waitUntilListening(timeout: 10)
                if let bound = await server.listeningAddress {
                    listening(Self.describe(bound, fallback: address))
                }
                try await group.next()
            }
        }
    }

    static func describe(_ address: Socket.Address, fallback: ListenAddress) -> String {
        switch address {
        case .ip4(let ip, let port): "\(ip):\(port)"
        case .ip6(let ip, let port): "[\(ip)]:\(port)"
        default: fallback.description
        }
    }

    /// FlyingFox's request and response types to Muster's.
    struct Adapter: HTTPHandler {
        let handler: Handler

        func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
            var headers: [String: String] = [:]
            for (name, value) in request.headers { headers[name.rawValue.lowercased()] = value }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            guard length <= 65_536 else { return HTTPResponse(statusCode: HTTPStatusCode(413, phrase: "Content Too Large")) }
            var query: [String: String] = [:]
            for item in request.query { query[item.name] = item.value }
            let response = await handler(WebRequest(
                method: request.method.rawValue, path: request.path, query: query, headers: headers,
                body: length > 0 ? try await request.bodyData : Data()
            ))
            var responseHeaders = HTTPHeaders()
            for header in response.headers { responseHeaders.addValue(header.value, for: HTTPHeader(header.name)) }
            return HTTPResponse(statusCode: HTTPStatusCode(response.status, phrase: Self.phrase(response.status)), headers: responseHeaders, body: response.body)
        }

        static func phrase(_ status: Int) -> String {
            switch status {
            case 200: "OK"
            case 303: "See Other"
            case 400: "Bad Request"
            case 403: "Forbidden"
            case 404: "Not Found"
            case 405: "Method Not Allowed"
            case 503: "Service Unavailable"
            default: "Status"
            }
        }
    }

    /// FlyingFox's log lines at debug level: they are about connections, not operations.
    struct DebugLogging: FlyingSocks.Logging {
        let logger: Logger
        func logDebug(_ debug: @autoclosure () -> String) { logger.trace("\(debug())") }
        func logInfo(_ info: @autoclosure () -> String) { logger.debug("\(info())") }
        func logWarning(_ warning: @autoclosure () -> String) { logger.debug("\(warning())") }
        func logError(_ error: @autoclosure () -> String) { logger.debug("\(error())") }
        func logCritical(_ critical: @autoclosure () -> String) { logger.error("\(critical())") }
    }
}
