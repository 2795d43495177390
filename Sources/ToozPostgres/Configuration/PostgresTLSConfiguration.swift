/// How the connection is encrypted: libpq's `sslmode` and its certificate options.
package struct PostgresTLSConfiguration: Sendable, Hashable {
    /// libpq's `sslmode` values.
    package enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Never encrypt.
        case disable
        /// Encrypt if the server offers it, without checking its certificate: libpq's default,
        /// and so psycopg2's and Python tooz's.
        case prefer
        /// Encrypt, without checking the certificate.
        case require
        /// Encrypt and check the certificate chain against `rootCertificatePath`.
        case verifyCA = "verify-ca"
        /// Also check that the certificate names the host.
        case verifyFull = "verify-full"
    }

    package var mode: Mode
    /// `sslrootcert`: the CA certificates (PEM) that sign the server's certificate.
    package var rootCertificatePath: String?
    /// `sslcert` and `sslkey`: a client certificate and its key (PEM).
    package var certificatePath: String?
    package var keyPath: String?

    package init(mode: Mode = .prefer, rootCertificatePath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil) {
        self.mode = mode
        self.rootCertificatePath = rootCertificatePath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}
