import NIOCore
import NIOSSL
import Tooz

extension RedisTLSConfiguration {
    /// What a connection's `NIOSSLClientHandler` is made from.
    struct ClientSettings: Sendable {
        var context: NIOSSLContext
        /// The SNI name; `nil` for IP addresses (not allowed in SNI) and unnamed unix sockets.
        var serverHostname: String?
    }

    /// Reads the PEM files and builds the TLS context for a connection to `endpoint`.
    ///
    /// - Throws: `invalidConfiguration` naming the tooz option and the path of a file that
    ///   cannot be read or holds no usable PEM, or a certificate without its key.
    func clientSettings(for endpoint: RedisEndpoint) throws(ToozError) -> ClientSettings {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let path = self.caCertificatesPath {
            configuration.trustRoots = .certificates(try Self.certificates(at: path, option: "ssl_ca_certs"))
        }
        switch (self.certificatePath, self.privateKeyPath) {
        case (nil, nil):
            break
        case (let certificatePath?, let keyPath?):
            configuration.certificateChain = try Self.certificates(at: certificatePath, option: "ssl_certfile").map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
            } catch {
                throw ToozError(.invalidConfiguration, "ssl_keyfile \(keyPath) is not a readable PEM private key", underlying: error)
            }
        default:
            throw ToozError(.invalidConfiguration, "ssl_certfile and ssl_keyfile go together (a client certificate needs its key)")
        }

        var serverHostname = self.serverHostname
        switch endpoint {
        case .tcp(let host, _):
            if serverHostname == nil { serverHostname = host }
        case .unixSocket:
            if serverHostname == nil { configuration.certificateVerification = .noHostnameVerification }
        }
        // NIOSSL refuses IP addresses as SNI; without a name it checks the certificate's IP SANs
        // against the peer's address instead.
        if let name = serverHostname, (try? SocketAddress(ipAddress: name, port: 0)) != nil {
            serverHostname = nil
        }

        do {
            return ClientSettings(context: try NIOSSLContext(configuration: configuration), serverHostname: serverHostname)
        } catch {
            throw ToozError(.invalidConfiguration, "the TLS settings for the Redis server at \(endpoint) are not usable", underlying: error)
        }
    }

    private static func certificates(at path: String, option: String) throws(ToozError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ToozError(.invalidConfiguration, "\(option) \(path) is not a readable PEM certificate file", underlying: error)
        }
        guard !certificates.isEmpty else {
            throw ToozError(.invalidConfiguration, "\(option) \(path) holds no PEM certificate")
        }
        return certificates
    }
}
