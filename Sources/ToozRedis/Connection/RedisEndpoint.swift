/// Where a Redis server listens: a TCP host and port, or a unix domain socket.
///
/// Its ``description`` (`host:port`, `[v6]:port` or the socket path) is what error messages and
/// log lines name; it never holds credentials.
package enum RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A host name or IP address and a port.
    case tcp(host: String, port: Int)
    /// The path of a unix domain socket (Redis's `unixsocket`).
    case unixSocket(path: String)

    package var description: String {
        switch self {
        case .tcp(let host, let port):
            // An IPv6 literal needs brackets, or its colons would run into the port's.
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path):
            path
        }
    }
}
