import NIOSSL

/// How an ``EtcdClient`` reaches its cluster.
package struct EtcdClientConfiguration: Sendable {
    /// One member's client address.
    package struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        package var host: String
        package var port: Int

        package init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The members to try, in order; after a failure the client moves on to the next.
    package var endpoints: [Endpoint]
    /// TLS for every endpoint; `nil` for plain HTTP/2.
    package var tls: NIOSSLContext?
    /// The SNI name for TLS; `nil`: the endpoint's host, when it is a name.
    package var tlsServerName: String?
    /// etcd's user and password (Authenticate → token); `nil` without auth.
    package var credentials: (user: String, password: String)?
    /// How long one call may take.
    package var operationTimeout: Duration
    /// How long connecting to one endpoint may take.
    package var connectTimeout: Duration

    package init(endpoints: [Endpoint], operationTimeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(5)) {
        self.endpoints = endpoints
        self.tls = nil
        self.tlsServerName = nil
        self.credentials = nil
        self.operationTimeout = operationTimeout
        self.connectTimeout = connectTimeout
    }
}
