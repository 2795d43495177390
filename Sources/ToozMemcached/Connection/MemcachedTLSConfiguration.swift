/// TLS settings for a memcached connection (memcached 1.6 built with TLS, started with `-Z`).
///
/// Files are PEM and are read when a connection is made, so a missing or unreadable file is
/// reported by ``MemcachedConnection/connect(configuration:eventLoopGroup:logger:onClose:)`` as an
/// `invalidConfiguration` error naming the file. The key password never appears in
/// ``description``, in a mirror (`dump`), in an error message or in a log line.
package struct MemcachedTLSConfiguration: Sendable, Hashable {
    /// The certificates that may sign the server's; `nil` trusts the system roots.
    package var caCertificatesPath: String?
    /// The client certificate chain, for servers that verify clients (`ssl_verify_mode`).
    package var certificatePath: String?
    /// The client certificate's private key.
    package var privateKeyPath: String?
    /// The password of an encrypted ``privateKeyPath``; `nil` for a plain key.
    package var privateKeyPassword: String?
    /// Whether the server's certificate must name the host connected to. The chain is verified
    /// either way; turning this off only accepts a certificate issued for another name.
    package var verifiesHostname: Bool
    /// The name to verify the server's certificate against and to send as SNI; `nil` uses the
    /// configured host (an IP address is then matched against the certificate's IP SANs and not
    /// sent as SNI).
    package var serverHostname: String?
    /// tooz `ssl_ciphers`: an OpenSSL cipher list for TLS 1.2 and older; `nil` keeps
    /// swift-nio-ssl's defaults.
    package var cipherSuites: String?

    package init(
        caCertificatesPath: String? = nil,
        certificatePath: String? = nil,
        privateKeyPath: String? = nil,
        privateKeyPassword: String? = nil,
        verifiesHostname: Bool = true,
        serverHostname: String? = nil
    ) {
        self.caCertificatesPath = caCertificatesPath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.privateKeyPassword = privateKeyPassword
        self.verifiesHostname = verifiesHostname
        self.serverHostname = serverHostname
    }
}

extension MemcachedTLSConfiguration: CustomStringConvertible, CustomReflectable {
    package var description: String {
        var parts: [String] = []
        if let caCertificatesPath { parts.append("caCertificatesPath: \(caCertificatesPath.debugDescription)") }
        if let certificatePath { parts.append("certificatePath: \(certificatePath.debugDescription)") }
        if let privateKeyPath { parts.append("privateKeyPath: \(privateKeyPath.debugDescription)") }
        parts.append("privateKeyPassword: \(self.privateKeyPassword == nil ? "nil" : "<redacted>")")
        parts.append("verifiesHostname: \(self.verifiesHostname)")
        if let serverHostname { parts.append("serverHostname: \(serverHostname.debugDescription)") }
        return "MemcachedTLSConfiguration(\(parts.joined(separator: ", ")))"
    }

    // Without this, `dump` and debuggers would show the stored password.
    package var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "caCertificatesPath": self.caCertificatesPath as Any,
                "certificatePath": self.certificatePath as Any,
                "privateKeyPath": self.privateKeyPath as Any,
                "privateKeyPassword": (self.privateKeyPassword == nil ? "nil" : "<redacted>") as Any,
                "verifiesHostname": self.verifiesHostname,
                "serverHostname": self.serverHostname as Any,
            ],
            displayStyle: .struct
        )
    }
}
