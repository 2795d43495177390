import NIOCore
import NIOSSL
import Tooz

extension MySQLTLSConfiguration {
    /// What a connection's `NIOSSLClientHandler` is made from.
    struct ClientSettings: Sendable {
        var context: NIOSSLContext
        /// The SNI and verification name; `nil` for an IP address, which SNI does not allow
        /// (the certificate's IP SANs are then checked against the peer's address).
        var serverHostname: String?
    }

    /// Reads the PEM files and builds the TLS context for a connection to `host`.
    ///
    /// - Throws: `invalidConfiguration` naming the file that cannot be read or holds no usable
    ///   PEM, or a certificate without its key.
    func clientSettings(host: String, server: String) throws(ToozError) -> ClientSettings {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let cipher { configuration.cipherSuites = cipher }
        switch (self.caFile, self.caDirectory) {
        case (let file?, _):
            // NIOSSL takes a file or a directory of roots, not both: the file wins.
            configuration.trustRoots = .certificates(try Self.certificates(at: file, what: "CA certificate file (ssl_ca)"))
        case (nil, let directory?):
            configuration.trustRoots = .file(directory)
        case (nil, nil):
            break
        }
        switch (self.certificateFile, self.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            configuration.certificateChain = try Self.certificates(at: certificateFile, what: "client certificate file (ssl_cert)")
                .map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw ToozError(.invalidConfiguration, "the TLS private key file \(keyFile) (ssl_key) is not a readable PEM private key", underlying: error)
            }
        default:
            throw ToozError(.invalidConfiguration, "a TLS client certificate (ssl_cert) and its private key (ssl_key) go together; only one is set")
        }
        switch self.verify {
        case .full: configuration.certificateVerification = .fullVerification
        case .noHostname: configuration.certificateVerification = .noHostnameVerification
        case .none: configuration.certificateVerification = .none
        }

        let sni: String? = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        do {
            return ClientSettings(context: try NIOSSLContext(configuration: configuration), serverHostname: sni)
        } catch {
            throw ToozError(.invalidConfiguration, "the TLS settings for MySQL at \(server) are not usable", underlying: error)
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
