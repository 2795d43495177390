/// Why a connection attempt or a command failed, before it is told in the caller's words.
///
/// ``MySQLConnectionStateMachine`` fails with these; ``MySQLConnection`` turns them into
/// `ToozError`s that say what the caller was doing.
package enum MySQLConnectionError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an ERR packet.
    case server(MySQLServerError)
    /// The server's bytes broke the protocol; the connection was closed.
    case garbled(MySQLDecodingError)
    /// The server wants something this client does not do (an authentication plugin, a
    /// cleartext password over plain TCP, TLS it does not offer); the connection was closed.
    case unsupported(String)
    /// The connection ended (closed by either side, an I/O or TLS error) before the answer.
    case connectionLost((any Error)?)
    /// The command was not sent: the connection is closed, for this reason if it was an error.
    case notSent((any Error)?)

    package var description: String {
        switch self {
        case .server(let error): "\(error)"
        case .garbled(let error): "garbled reply: \(error.message)"
        case .unsupported(let message): message
        case .connectionLost(let cause?): "the connection was lost: \(cause)"
        case .connectionLost(nil): "the connection was lost"
        case .notSent(let cause?): "the connection is closed (\(cause))"
        case .notSent(nil): "the connection is closed"
        }
    }
}
