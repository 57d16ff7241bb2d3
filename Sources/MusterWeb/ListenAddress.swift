/// Where an HTTP endpoint listens: `host:port` with an IPv4 address, or `[v6]:port`.
/// Parsed before anything starts, so a bad value is an argument error, not a failed bind.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case ipv4(String)
        case ipv6(String)
    }

    public var host: Host
    public var port: UInt16

    /// Parses `127.0.0.1:9464`, `0.0.0.0:8080`, `[::1]:8080` or `localhost:8080` (taken as
    /// 127.0.0.1). Port 0 asks the system for a free one. Nil for anything else.
    public init?(_ text: String) {
        let hostText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard !hostText.isEmpty, hostText.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            host = .ipv6(String(hostText))
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
            if hostText == "localhost" {
                host = .ipv4("127.0.0.1")
            } else {
                let octets = hostText.split(separator: ".", omittingEmptySubsequences: false)
                guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil && $0.count <= 3 }) else { return nil }
                host = .ipv4(String(hostText))
            }
        }
        guard let port = UInt16(portText) else { return nil }
        self.port = port
    }

    /// True for a loopback address: only this machine can connect.
    public var isLoopback: Bool {
        switch host {
        case .ipv4(let address): address.hasPrefix("127.")
        case .ipv6(let address): address == "::1"
        }
    }

    public var description: String {
        switch host {
        case .ipv4(let address): "\(address):\(port)"
        case .ipv6(let address): "[\(address)]:\(port)"
        }
    }
}
