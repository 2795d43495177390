/// Where a MySQL or MariaDB server is, who to log in as, and how.
///
/// The password never appears in ``description``, in a mirror (`dump`), in an error message or
/// in a log line: ``description`` is `user@host:port/database`.
///
/// ```swift
/// let configuration = MySQLConnectionConfiguration(
///     endpoint: .tcp(host: "127.0.0.1", port: 3306), username: "tooz", password: "secret", database: "tooz"
/// )
/// ```
package struct MySQLConnectionConfiguration: Sendable, Hashable {
    /// How the server is reached.
    package enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// A unix domain socket: never TLS, and secure enough to send a password in clear.
        case unixSocket(path: String)
    }

    package var endpoint: Endpoint
    package var username: String
    /// `nil` or empty for a user without a password.
    package var password: String?
    /// The default database (`USE`); `nil` for none.
    package var database: String?
    /// TLS settings; ignored for a unix socket.
    package var tls: MySQLTLSConfiguration
    /// The longest wait for the connection, TLS and the login together. Default 10 s.
    package var connectTimeout: Duration

    package init(
        endpoint: Endpoint,
        username: String,
        password: String? = nil,
        database: String? = nil,
        tls: MySQLTLSConfiguration = MySQLTLSConfiguration(),
        connectTimeout: Duration = .seconds(10)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.connectTimeout = connectTimeout
    }

    /// Whether a password may travel in clear: over a unix socket (TLS is decided later, per connection).
    var isUnixSocket: Bool {
        if case .unixSocket = self.endpoint { return true }
        return false
    }
}

extension MySQLConnectionConfiguration.Endpoint: CustomStringConvertible {
    /// `host:port` (brackets around an IPv6 address), or the socket's path.
    package var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path): path
        }
    }
}

extension MySQLConnectionConfiguration: CustomStringConvertible, CustomReflectable {
    /// `user@host:port/database` (or `user@/path/to/socket/database`); never the password.
    package var description: String {
        "\(self.username)@\(self.endpoint)\(self.database.map { "/\($0)" } ?? "")"
    }

    // Without this, `dump` and debuggers would show the stored password.
    package var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": self.endpoint,
                "username": self.username,
                "password": (self.password == nil ? "nil" : "<redacted>") as Any,
                "database": self.database as Any,
                "tls": self.tls,
                "connectTimeout": self.connectTimeout,
            ],
            displayStyle: .struct
        )
    }
}

/// TLS settings of a MySQL connection, in the terms of PyMySQL's and the mysql client's `ssl_*` options.
///
/// Files are PEM and are read when a connection is made; a missing or unreadable file is
/// reported as an `invalidConfiguration` error naming it.
package struct MySQLTLSConfiguration: Sendable, Hashable {
    /// Whether to use TLS.
    package enum Mode: Sendable, Hashable {
        /// Never (a unix socket is always plain).
        case disabled
        /// When the server offers it; plain otherwise.
        case preferred
        /// Always: a server that does not offer TLS is refused.
        case required
    }

    /// How much of the server's certificate is checked.
    package enum Verification: Sendable, Hashable {
        /// The chain, against ``caFile``/``caDirectory`` (or the system roots), and the host name.
        case full
        /// The chain only.
        case noHostname
        /// Nothing: the connection is encrypted but the server is not authenticated.
        case none
    }

    package var mode: Mode
    /// `ssl_ca`: the certificates that may sign the server's.
    package var caFile: String?
    /// `ssl_capath`: a directory of such certificates (hashed names, as `c_rehash` makes).
    package var caDirectory: String?
    /// `ssl_cert`: the client certificate chain, for servers that require X509.
    package var certificateFile: String?
    /// `ssl_key`: the client certificate's private key.
    package var keyFile: String?
    /// `ssl_cipher`: an OpenSSL cipher list for TLS ≤ 1.2; `nil` keeps the defaults.
    package var cipher: String?
    package var verify: Verification

    package init(
        mode: Mode = .disabled,
        caFile: String? = nil,
        caDirectory: String? = nil,
        certificateFile: String? = nil,
        keyFile: String? = nil,
        cipher: String? = nil,
        verify: Verification = .full
    ) {
        self.mode = mode
        self.caFile = caFile
        self.caDirectory = caDirectory
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.cipher = cipher
        self.verify = verify
    }
}
