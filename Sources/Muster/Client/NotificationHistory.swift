/// What a `NotificationHub` knows of each channel's notifications: a pure value, so the rules
/// that keep a wake-up from being lost are unit-tested.
///
/// Each channel counts its notifications; the listener counts its reconnects (after one,
/// anything may have been missed, on every channel). A reader takes a `Token` before it
/// reads; a wait since that token ends at once when the channel has moved past it.
struct NotificationHistory: Sendable, Equatable {
    /// A point in a channel's history.
    struct Token: Sendable, Equatable {
        fileprivate var notifications: UInt64
        fileprivate var reconnects: UInt64
    }

    private var notifications: [String: UInt64] = [:]
    private var reconnects: UInt64 = 0

    /// Where `channel` is now.
    func token(for channel: String) -> Token {
        Token(notifications: notifications[channel, default: 0], reconnects: reconnects)
    }

    /// True when `channel` was notified, or the listener reconnected, since `token`.
    func hasMoved(_ channel: String, since token: Token) -> Bool {
        self.token(for: channel) != token
    }

    mutating func notified(_ channel: String) {
        notifications[channel, default: 0] += 1
    }

    mutating func reconnected() {
        reconnects += 1
    }
}
