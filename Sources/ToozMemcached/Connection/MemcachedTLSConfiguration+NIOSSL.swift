import NIOCore
import NIOSSL
import Tooz

extension MemcachedTLSConfiguration {
    /// What a connection's `NIOSSLClientHandler` is made from.
    struct ClientSettings: Sendable {
        var context: NIOSSLContext
        /// The SNI name; `nil` for IP addresses, which SNI does not allow.
        var serverHostname: String?
    }

    /// Reads the PEM files and builds the TLS context for a connection to `host`.
    ///
    /// - Throws: `invalidConfiguration` naming the file that cannot be read or holds no usable
    ///   PEM (or whose password is wrong), or a certificate without its key.
    func clientSettings(host: String, endpoint: String) throws(ToozError) -> ClientSettings {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let cipherSuites { configuration.cipherSuites = cipherSuites }
        if let path = self.caCertificatesPath {
            configuration.trustRoots = .certificates(try Self.certificates(at: path, what: "CA certificate file"))
        }
        switch (self.certificatePath, self.privateKeyPath) {
        case (nil, nil):
            break
        case (let certificatePath?, let keyPath?):
            configuration.certificateChain = try Self.certificates(at: certificatePath, what: "client certificate file")
                .map { .certificate($0) }
            configuration.privateKey = .privateKey(try Self.privateKey(at: keyPath, password: self.privateKeyPassword))
        default:
            throw ToozError(.invalidConfiguration, "a TLS client certificate and its private key go together; only one is set")
        }
        if !self.verifiesHostname {
            configuration.certificateVerification = .noHostnameVerification
        }

        let name = self.serverHostname ?? host
        // NIOSSL refuses IP addresses as SNI; without a name it checks the certificate's IP SANs
        // against the peer's address instead.
        let sni: String? = (try? SocketAddress(ipAddress: name, port: 0)) == nil ? name : nil

        do {
            return ClientSettings(context: try NIOSSLContext(configuration: configuration), serverHostname: sni)
        } catch {
            throw ToozError(.invalidConfiguration, "the TLS settings for memcached at \(endpoint) are not usable", underlying: error)
        }
    }

    private static func privateKey(at path: String, password: String?) throws(ToozError) -> NIOSSLPrivateKey {
        do {
            if let password {
                return try NIOSSLPrivateKey(file: path, format: .pem) { (setter: NIOSSLPassphraseSetter<[UInt8]>) in
                    setter(Array(password.utf8))
                }
            }
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch {
            // The underlying error names no password; the message says which file.
            let hint = password == nil ? "" : " (or its password is wrong)"
            throw ToozError(.invalidConfiguration, "the TLS private key file \(path) is not a readable PEM private key\(hint)", underlying: error)
        }
    }

    private static func certificates(at path: String, what: String) throws(ToozError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ToozError(.invalidConfiguration, "the TLS \(what) \(path) is not a readable PEM certificate file", underlying: error)
        }
        guard !certificates.isEmpty else {
            throw ToozError(.invalidConfiguration, "the TLS \(what) \(path) holds no PEM certificate")
        }
        return certificates
    }
}
