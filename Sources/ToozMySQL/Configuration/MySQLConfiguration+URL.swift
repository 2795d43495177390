import Tooz

extension MySQLConfiguration {
    /// The options a `mysql://` URL accepts: tooz 9.1.0's (PyMySQL's connection arguments),
    /// ours, and the common ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "unix_socket", "ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher", "ssl_verify_mode", "ssl_check_hostname",
        "ssl_mode", "table_prefix", "connect_timeout",
    ])

    /// The port MySQL listens on when the URL names none.
    package static let defaultPort = 3306

    /// Builds the configuration for a tooz MySQL URL:
    /// `mysql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?options]`.
    ///
    /// As with Python tooz (PyMySQL), `unix_socket` connects through a socket file instead of
    /// TCP, and any `ssl_*` option turns TLS on: the server's certificate is verified against
    /// `ssl_ca`/`ssl_capath` when one is given (the host name too, unless
    /// `ssl_check_hostname=false`), and not verified without one; `ssl_verify_mode`
    /// (`none`, `optional`, `required`) overrides that. Ours: `ssl_mode` (`disabled`,
    /// `preferred`, `required`), `table_prefix` (default `tooz_`) and `connect_timeout`;
    /// `timeout` bounds connecting and each statement (default 10 s).
    ///
    /// - Throws: `invalidConfiguration` naming the option or part of the URL that is wrong; the
    ///   password never appears in it.
    package static func make(url: BackendURL) throws(ToozError) -> (MySQLConfiguration, CoordinatorConfiguration) {
        guard url.scheme == "mysql" else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) is not a mysql:// URL")
        }
        try url.validateOptions(accepted: urlOptions)
        var coordination = CoordinatorConfiguration()
        try coordination.apply(url)

        guard let user = url.user, !user.isEmpty else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) names no user (mysql://USER:PASSWORD@HOST/DBNAME)")
        }
        guard url.path.count > 1 else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) names no database (mysql://USER:PASSWORD@HOST/DBNAME)")
        }
        let database = String(url.path.dropFirst())
        guard !database.contains("/") else {
            throw ToozError(.invalidConfiguration, "the path of a mysql:// URL is one database name, not \(url.path.debugDescription)")
        }
        // MySQL's identifiers: at most 64 characters; we splice neither, but refuse what the
        // server would refuse with a less clear message.
        for (what, value, limit) in [("user name", user, 80), ("database name", database, 64)]
        where value.utf8.contains(0) || value.count > limit {
            throw ToozError(.invalidConfiguration, "the \(what) \(value.debugDescription) is not a MySQL name (at most \(limit) characters, no NUL)")
        }

        let endpoint: MySQLConnectionConfiguration.Endpoint
        if let socket = url.option("unix_socket") {
            guard socket.hasPrefix("/") else {
                throw ToozError(.invalidConfiguration, "unix_socket=\(socket.debugDescription) must be an absolute path")
            }
            endpoint = .unixSocket(path: socket)
        } else {
            guard let host = url.host, !host.isEmpty else {
                throw ToozError(.invalidConfiguration, "\(url.redacted) names no host (or unix_socket=)")
            }
            endpoint = .tcp(host: host, port: url.port ?? defaultPort)
        }

        let tls = try tlsConfiguration(url, endpoint: endpoint)
        var connection = MySQLConnectionConfiguration(
            endpoint: endpoint, username: user, password: url.password, database: database, tls: tls, connectTimeout: .seconds(10)
        )
        var configuration = MySQLConfiguration(connection: connection)
        if let timeout = try url.durationOption("timeout") {
            connection.connectTimeout = timeout
            configuration.statementTimeout = timeout
        }
        if let timeout = try url.durationOption("connect_timeout") { connection.connectTimeout = timeout }
        configuration.connection = connection
        if let prefix = url.option("table_prefix") {
            guard isValidTablePrefix(prefix) else {
                throw ToozError(
                    .invalidConfiguration,
                    "table_prefix=\(prefix.debugDescription) must be ASCII letters, digits or _ (a letter or _ first), at most 48"
                )
            }
            configuration.tablePrefix = prefix
        }
        return (configuration, coordination)
    }

    /// PyMySQL's `ssl={…}` rules, from the `ssl_*` options.
    private static func tlsConfiguration(
        _ url: BackendURL, endpoint: MySQLConnectionConfiguration.Endpoint
    ) throws(ToozError) -> MySQLTLSConfiguration {
        var tls = MySQLTLSConfiguration()
        let pyMySQLOptions = ["ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher", "ssl_verify_mode", "ssl_check_hostname"]
        let given = pyMySQLOptions.filter { url.option($0) != nil }
        tls.mode = given.isEmpty ? .disabled : .required
        if let mode = url.option("ssl_mode") {
            switch mode.lowercased() {
            case "disabled": tls.mode = .disabled
            case "preferred": tls.mode = .preferred
            case "required": tls.mode = .required
            default:
                throw ToozError(.invalidConfiguration, "ssl_mode=\(mode.debugDescription) must be disabled, preferred or required")
            }
        }
        if tls.mode == .disabled, let option = given.first {
            throw ToozError(.invalidConfiguration, "\(option) needs TLS, which ssl_mode=disabled turns off")
        }
        if case .unixSocket = endpoint, tls.mode != .disabled {
            throw ToozError(.invalidConfiguration, "TLS options do not apply to unix_socket connections (MySQL does not encrypt them)")
        }
        tls.caFile = url.option("ssl_ca")
        tls.caDirectory = url.option("ssl_capath")
        tls.certificateFile = url.option("ssl_cert")
        tls.keyFile = url.option("ssl_key")
        tls.cipher = url.option("ssl_cipher")
        if (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw ToozError(.invalidConfiguration, "ssl_cert and ssl_key go together (a client certificate and its key)")
        }
        let hasCA = tls.caFile != nil || tls.caDirectory != nil
        let checkHostname = try url.boolOption("ssl_check_hostname") ?? true
        tls.verify = hasCA ? (checkHostname ? .full : .noHostname) : .none
        if let mode = url.option("ssl_verify_mode") {
            switch mode.lowercased() {
            case "none", "false", "0": tls.verify = .none
            case "optional", "required", "true", "1":
                guard hasCA else {
                    throw ToozError(.invalidConfiguration, "ssl_verify_mode=\(mode) needs ssl_ca or ssl_capath (the CA that signs the server's certificate)")
                }
                tls.verify = checkHostname ? .full : .noHostname
            default:
                throw ToozError(.invalidConfiguration, "ssl_verify_mode=\(mode.debugDescription) must be none, optional or required")
            }
        }
        return tls
    }
}
