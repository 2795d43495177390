/// TLS settings for a Redis connection, in tooz's terms (redis-py's `ssl_*` options).
///
/// Files are PEM and are read when a connection is made, so a missing or unreadable file is
/// reported by ``RedisConnection/connect(to:configuration:eventLoopGroup:logger:onMessage:onInvalidation:onClose:)``
/// as an `invalidConfiguration` error naming the option and the path.
package struct RedisTLSConfiguration: Sendable, Hashable {
    /// tooz `ssl_ca_certs`: the certificates that may sign the server's; `nil` trusts the system roots.
    package var caCertificatesPath: String?
    /// tooz `ssl_certfile`: the client certificate chain, for servers with `tls-auth-clients yes`.
    package var certificatePath: String?
    /// tooz `ssl_keyfile`: the client certificate's private key.
    package var privateKeyPath: String?
    /// The name to verify the server's certificate against and to send as SNI; `nil` uses the
    /// endpoint's host (an IP address is then matched against the certificate's IP SANs and
    /// not sent as SNI). A unix socket endpoint without it skips the host name check, since a
    /// socket path names no host; the chain is still verified.
    package var serverHostname: String?

    package init(
        caCertificatesPath: String? = nil,
        certificatePath: String? = nil,
        privateKeyPath: String? = nil,
        serverHostname: String? = nil
    ) {
        self.caCertificatesPath = caCertificatesPath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.serverHostname = serverHostname
    }
}
