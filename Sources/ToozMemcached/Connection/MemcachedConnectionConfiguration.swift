/// Where one memcached server is, how to reach it, and how long to wait.
///
/// ```swift
/// var configuration = MemcachedConnectionConfiguration(host: "127.0.0.1", port: 11211)
/// configuration.commandTimeout = .seconds(2)
/// ```
package struct MemcachedConnectionConfiguration: Sendable {
    /// The server's host name or IP address.
    package var host: String
    /// The server's TCP port (memcached's default is 11211).
    package var port: Int
    /// TLS, or `nil` for a plain connection.
    package var tls: MemcachedTLSConfiguration?
    /// The longest wait for the TCP connection, and then for the server's answer to the `mn`
    /// that proves it speaks the meta protocol (TLS is set up while `mn` waits). Default 5 s.
    package var connectTimeout: Duration = .seconds(5)
    /// The longest wait for the reply to a request, unless ``MemcachedRequest/timeout`` says
    /// otherwise. When it passes, the connection is closed: later replies would be out of step.
    /// Default 10 s.
    package var commandTimeout: Duration = .seconds(10)
    /// The first wait before ``MemcachedClient`` reconnects after a failed attempt; doubled per
    /// failure up to ``reconnectMaximumDelay``.
    package var reconnectInitialDelay: Duration = .milliseconds(50)
    /// The longest wait between two failed connection attempts.
    package var reconnectMaximumDelay: Duration = .seconds(1)
    /// Bounds on the replies the decoder accepts.
    package var decoderLimits = MemcachedDecoder.Limits()

    package init(host: String, port: Int = 11211) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 address, for messages.
    package var endpoint: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}
