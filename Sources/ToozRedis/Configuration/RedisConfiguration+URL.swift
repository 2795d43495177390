import Tooz

extension RedisConfiguration {
    /// The options a `redis://` URL accepts: tooz 9.1.0's and redis-py's that tooz passes on,
    /// plus the common ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "namespace", "encoding", "db", "executor",
        "socket_timeout", "socket_connect_timeout", "socket_keepalive", "retry_on_timeout", "health_check_interval",
        "ssl", "ssl_certfile", "ssl_keyfile", "ssl_ca_certs",
        "sentinel", "sentinel_fallback", "sentinel_username", "sentinel_password", "sentinel_ssl",
    ])

    /// The port Redis listens on when the URL names none.
    package static let defaultPort = 6379
    /// The port a sentinel listens on when the URL names none.
    package static let defaultSentinelPort = 26379

    /// Builds the configuration for a tooz Redis URL:
    /// `redis://[USER:PASSWORD@]HOST[:PORT][?opts]`, `redis:///path/to/redis.sock[?opts]`, or
    /// `redis://SENTINEL:PORT?sentinel=MASTER&sentinel_fallback=HOST:PORT`.
    ///
    /// tooz's `timeout` (default 30 s) is the membership, lock and leader TTL and the command
    /// timeout unless `membership_timeout`, `lock_timeout`, `leader_timeout` or `socket_timeout`
    /// say otherwise.
    ///
    /// - Throws: `invalidConfiguration` naming the option or part of the URL that is wrong.
    package static func make(url: BackendURL) throws(ToozError) -> (RedisConfiguration, CoordinatorConfiguration) {
        guard url.scheme == "redis" else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) is not a redis:// URL")
        }
        try url.validateOptions(accepted: urlOptions)

        var coordination = CoordinatorConfiguration()
        // Waiters are woken by client tracking when a lock key changes, whoever changes it
        // (see RedisNotifications); the poll is only a safety net. A server that cannot track
        // (before Redis 6) leaves Python releases and expiries to this poll.
        coordination.lockPollInterval = .seconds(1)
        try coordination.apply(url, timeoutMeans: .allTTLs)

        var connection = RedisConnectionConfiguration()
        let socketTimeout = try url.durationOption("socket_timeout")
        let timeout = try url.durationOption("timeout")
        connection.commandTimeout = socketTimeout ?? timeout ?? .seconds(30)
        if let connectTimeout = try url.durationOption("socket_connect_timeout") { connection.connectTimeout = connectTimeout }
        connection.username = url.user.flatMap { $0.isEmpty ? nil : $0 }
        connection.password = url.password
        connection.database = try url.intOption("db", range: 0...1_000_000)
        connection.clientName = "swift-tooz"
        if let encoding = url.option("encoding"), !["utf8", "utf-8"].contains(encoding.lowercased()) {
            throw ToozError(
                .invalidConfiguration,
                "option encoding=\(encoding.debugDescription) is not supported: swift-tooz stores names as UTF-8 (encoding=utf8)"
            )
        }
        // Accepted for URL compatibility; they tune redis-py's socket handling, which has no
        // counterpart here (every connection is kept alive and re-made on failure).
        _ = try url.boolOption("socket_keepalive")
        _ = try url.boolOption("retry_on_timeout")
        _ = try url.durationOption("health_check_interval")

        let tlsFiles = try tlsConfiguration(of: url)
        if try url.boolOption("ssl") == true {
            connection.tls = tlsFiles ?? RedisTLSConfiguration()
        } else if tlsFiles != nil, try url.boolOption("sentinel_ssl") != true {
            throw ToozError(
                .invalidConfiguration,
                "ssl_certfile, ssl_keyfile and ssl_ca_certs need ssl=true (or sentinel_ssl=true) in \(url.redacted); without it the connection would not be encrypted"
            )
        }

        var sentinelConnection = connection
        sentinelConnection.database = nil
        sentinelConnection.username = url.option("sentinel_username")
        sentinelConnection.password = url.option("sentinel_password")
        sentinelConnection.tls = try url.boolOption("sentinel_ssl") == true ? (tlsFiles ?? RedisTLSConfiguration()) : nil

        let namespace = url.option("namespace") ?? "_tooz"
        let servers = try servers(of: url)
        if case .direct = servers,
            url.option("sentinel_fallback") != nil || url.option("sentinel_username") != nil
                || url.option("sentinel_password") != nil || url.option("sentinel_ssl") != nil
        {
            throw ToozError(.invalidConfiguration, "sentinel_* options need sentinel=<master name> in \(url.redacted)")
        }
        let configuration = RedisConfiguration(
            servers: servers,
            connection: connection,
            sentinelConnection: sentinelConnection,
            namespace: namespace
        )
        return (configuration, coordination)
    }

    private static func tlsConfiguration(of url: BackendURL) throws(ToozError) -> RedisTLSConfiguration? {
        let ca = url.option("ssl_ca_certs")
        let certificate = url.option("ssl_certfile")
        let key = url.option("ssl_keyfile")
        if ca == nil && certificate == nil && key == nil { return nil }
        if (certificate == nil) != (key == nil) {
            throw ToozError(.invalidConfiguration, "ssl_certfile and ssl_keyfile go together (a client certificate needs its key)")
        }
        return RedisTLSConfiguration(caCertificatesPath: ca, certificatePath: certificate, privateKeyPath: key)
    }

    private static func servers(of url: BackendURL) throws(ToozError) -> Servers {
        let host = url.host.flatMap { $0.isEmpty ? nil : $0 }
        if let masterName = url.option("sentinel") {
            guard let host else {
                throw ToozError(.invalidConfiguration, "sentinel=\(masterName) needs the first sentinel as the URL's host: redis://HOST:PORT?sentinel=NAME")
            }
            var sentinels = [RedisEndpoint.tcp(host: host, port: url.port ?? defaultSentinelPort)]
            for fallback in url.options["sentinel_fallback"] ?? [] {
                sentinels.append(try hostAndPort(fallback, defaultPort: defaultSentinelPort, option: "sentinel_fallback"))
            }
            return .sentinel(masterName: masterName, sentinels: sentinels)
        }
        if let host {
            guard url.path.isEmpty || url.path == "/" else {
                throw ToozError(
                    .invalidConfiguration,
                    "a redis:// URL with a host takes no path (\(url.path.debugDescription)); choose the database with ?db=N"
                )
            }
            return .direct(.tcp(host: host, port: url.port ?? defaultPort))
        }
        guard url.path.count > 1, url.port == nil else {
            throw ToozError(
                .invalidConfiguration,
                "\(url.redacted) names no server: use redis://HOST[:PORT] or redis:///path/to/redis.sock"
            )
        }
        return .direct(.unixSocket(path: url.path))
    }

    /// `host:port`, `[v6]:port` or `host` (oslo's `parse_host_port`).
    static func hostAndPort(_ text: String, defaultPort: Int, option: String) throws(ToozError) -> RedisEndpoint {
        func bad() -> ToozError {
            ToozError(.invalidConfiguration, "option \(option)=\(text.debugDescription) is not HOST[:PORT] or [IPv6][:PORT]")
        }
        var host = Substring(text)
        var port: Substring? = nil
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw bad() }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad() }
                port = after.dropFirst()
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard host.firstIndex(of: ":") == colon else { throw bad() }  // a bare IPv6 needs brackets
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw bad() }
        guard let port else { return .tcp(host: String(host), port: defaultPort) }
        guard let number = Int(port), (1...65_535).contains(number) else { throw bad() }
        return .tcp(host: String(host), port: number)
    }
}
