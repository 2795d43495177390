/// Where a ``ZooKeeperClient``'s session stands, as ``ZooKeeperClient/sessionStates()`` reports it.
///
/// The lease meaning for the backend: ephemeral nodes are *held* while `connected` or
/// `reconnected`, *uncertain* while `suspended` (the server may still keep them until the
/// session timeout), and *lost* at `expired`.
package enum ZooKeeperSessionState: Hashable, Sendable, CustomStringConvertible {
    /// No session yet: the first connection attempts are under way.
    case connecting
    /// A new session: no ephemeral node or watch of an earlier session exists any more.
    case connected(ZooKeeperSession)
    /// The connection was lost; the session may still live on the server. Requests wait for
    /// the reconnect (or fail when the session expires).
    case suspended(ZooKeeperSession)
    /// A reconnect resumed the same session: ephemeral nodes survived, and watches were
    /// re-registered (changes made meanwhile fire them at once).
    case reconnected(ZooKeeperSession)
    /// The session is gone with its ephemeral nodes and watches. Unless the client was told
    /// not to, a new session follows (`connecting`, then `connected`).
    case expired(ZooKeeperSession?)
    /// The server refused the credentials; the client is unusable.
    case authenticationFailed
    /// ``ZooKeeperClient/close()`` ended the session.
    case closed

    /// The session in effect, if any.
    package var session: ZooKeeperSession? {
        switch self {
        case .connected(let session), .suspended(let session), .reconnected(let session): session
        case .expired(let session): session
        case .connecting, .authenticationFailed, .closed: nil
        }
    }

    /// Whether requests are answered now.
    package var isConnected: Bool {
        switch self {
        case .connected, .reconnected: true
        default: false
        }
    }

    /// Whether no further state will come.
    package var isTerminal: Bool {
        switch self {
        case .authenticationFailed, .closed: true
        default: false
        }
    }

    package var description: String {
        switch self {
        case .connecting: "connecting"
        case .connected(let session): "connected (\(session))"
        case .suspended(let session): "suspended (\(session))"
        case .reconnected(let session): "reconnected (\(session))"
        case .expired(let session): "expired (\(session.map(\.description) ?? "no session"))"
        case .authenticationFailed: "authentication failed"
        case .closed: "closed"
        }
    }
}
