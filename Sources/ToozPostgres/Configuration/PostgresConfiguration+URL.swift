import Foundation
import Tooz

extension PostgresConfiguration {
    /// The options a `postgresql://` URL accepts: tooz 9.1.0's (`host`, `port`, `dbname`),
    /// libpq's TLS ones, ours, and the common ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "host", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert", "sslkey", "schema", "lock_keys", "connect_timeout",
    ])

    /// The port PostgreSQL listens on when the URL names none.
    package static let defaultPort = 5432

    /// Builds the configuration for a tooz PostgreSQL URL:
    /// `postgresql://[USER[:PASSWORD]@]HOST[:PORT][/DBNAME][?options]`.
    ///
    /// As in tooz, `host=`, `port=` and `dbname=` override the URL's parts; a `host` that starts
    /// with `/` is a directory holding the server's unix socket. `timeout` bounds connecting and
    /// each statement; `schema` names where our tables live (default `tooz`); `lock_keys=bigint`
    /// gives named locks collision-free keys that Python tooz does not share.
    ///
    /// - Throws: `invalidConfiguration` naming the option or part of the URL that is wrong; the
    ///   password never appears in it.
    package static func make(url: BackendURL) throws(ToozError) -> (PostgresConfiguration, CoordinatorConfiguration) {
        guard url.scheme == "postgresql" || url.scheme == "postgres" else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) is not a postgresql:// URL")
        }
        try url.validateOptions(accepted: urlOptions)
        var coordination = CoordinatorConfiguration()
        try coordination.apply(url)

        let host = url.option("host") ?? url.host ?? "localhost"
        let port = try url.intOption("port", range: 1...65_535) ?? url.port ?? defaultPort
        guard !host.isEmpty else { throw ToozError(.invalidConfiguration, "host= is empty in \(url.redacted)") }
        let endpoint: Endpoint =
            host.hasPrefix("/")
            ? .unixSocket(path: (host.hasSuffix("/") ? host : host + "/") + ".s.PGSQL.\(port)")
            : .tcp(host: host, port: port)

        var database = url.option("dbname")
        if database == nil, url.path.count > 1 {
            let name = String(url.path.dropFirst())
            guard !name.contains("/") else {
                throw ToozError(.invalidConfiguration, "the path of a postgresql:// URL is one database name, not \(url.path.debugDescription)")
            }
            database = name
        }
        let username = url.option("user") ?? url.user ?? ProcessInfo.processInfo.userName
        for (what, value) in [("user name", username), ("database name", database ?? "")] where value.utf8.contains(0) || value.utf8.count > 63 {
            throw ToozError(.invalidConfiguration, "the \(what) \(value.debugDescription) is not a PostgreSQL name (at most 63 bytes, no NUL)")
        }

        var tls = PostgresTLSConfiguration()
        if let mode = url.option("sslmode") {
            guard let parsed = PostgresTLSConfiguration.Mode(rawValue: mode) else {
                throw ToozError(
                    .invalidConfiguration,
                    "sslmode=\(mode.debugDescription) is not one of \(PostgresTLSConfiguration.Mode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            tls.mode = parsed
        }
        // Over a unix socket there is nothing to encrypt, and the server refuses SSL there.
        if case .unixSocket = endpoint, tls.mode == .prefer { tls.mode = .disable }
        tls.rootCertificatePath = url.option("sslrootcert")
        tls.certificatePath = url.option("sslcert")
        tls.keyPath = url.option("sslkey")
        if (tls.mode == .verifyCA || tls.mode == .verifyFull), tls.rootCertificatePath == nil {
            throw ToozError(.invalidConfiguration, "sslmode=\(tls.mode.rawValue) needs sslrootcert (the CA that signs the server's certificate)")
        }
        if (tls.certificatePath == nil) != (tls.keyPath == nil) {
            throw ToozError(.invalidConfiguration, "sslcert and sslkey go together (a client certificate and its key)")
        }
        if tls.mode == .disable, let option = ["sslrootcert", "sslcert", "sslkey"].first(where: { url.option($0) != nil }) {
            throw ToozError(.invalidConfiguration, "\(option) needs an sslmode other than disable; without it the connection would not be encrypted")
        }

        let schema = url.option("schema") ?? "tooz"
        guard PostgresSchema.isValidName(schema) else {
            throw ToozError(
                .invalidConfiguration,
                "schema=\(schema.debugDescription) must be a plain identifier: a lowercase letter or _, then lowercase letters, digits or _, at most 63"
            )
        }
        var lockKeys = PostgresLockKeyStyle.tooz
        if let style = url.option("lock_keys") {
            guard let parsed = PostgresLockKeyStyle(rawValue: style) else {
                throw ToozError(.invalidConfiguration, "lock_keys=\(style.debugDescription) must be tooz (shared with Python tooz) or bigint (collision-free)")
            }
            lockKeys = parsed
        }
        var configuration = PostgresConfiguration(
            endpoint: endpoint, username: username, password: url.password, database: database, tls: tls, schema: schema,
            lockKeys: lockKeys
        )
        if let timeout = try url.durationOption("timeout") {
            configuration.connectTimeout = timeout
            configuration.statementTimeout = timeout
        }
        if let timeout = try url.durationOption("connect_timeout") { configuration.connectTimeout = timeout }
        return (configuration, coordination)
    }
}
