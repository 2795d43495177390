import Tooz

extension MemcachedConfiguration {
    /// The options a `memcached://` URL accepts: tooz 9.1.0's, ours (`item_size_max`), and the
    /// common ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "max_pool_size", "executor",
        "use_ssl", "ca_cert", "ssl_key", "ssl_key_password", "ssl_cert", "ssl_ciphers", "ssl_check_hostname",
        "item_size_max",
    ])

    /// The port memcached listens on when the URL names none.
    package static let defaultPort = 11211

    /// Builds the configuration for a tooz memcached URL: `memcached://[HOST[:PORT]][?opts]`
    /// (`localhost:11211` by default).
    ///
    /// tooz's `timeout` (default 30 s) is the socket and connect timeout and the membership,
    /// lock and leader TTL unless `membership_timeout`, `lock_timeout` or `leader_timeout` say
    /// otherwise. memcached counts TTLs in whole seconds.
    ///
    /// - Throws: `invalidConfiguration` naming the option or part of the URL that is wrong.
    package static func make(url: BackendURL) throws(ToozError) -> (MemcachedConfiguration, CoordinatorConfiguration) {
        guard url.scheme == "memcached" else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) is not a memcached:// URL")
        }
        try url.validateOptions(accepted: urlOptions)
        guard url.user == nil, url.password == nil else {
            throw ToozError(
                .invalidConfiguration,
                "memcached:// takes no user or password (tooz's memcached driver has no authentication): \(url.redacted)"
            )
        }
        guard url.path.isEmpty || url.path == "/" else {
            throw ToozError(.invalidConfiguration, "a memcached:// URL takes no path (\(url.path.debugDescription))")
        }

        var coordination = CoordinatorConfiguration()
        // memcached cannot push: waiters poll, from 1 ms doubling to this, and a release by
        // this process wakes its own waiters at once.
        coordination.lockPollInterval = .milliseconds(50)
        try coordination.apply(url, timeoutMeans: .allTTLs)
        for (option, ttl) in [
            ("membership_timeout", coordination.membershipTTL), ("lock_timeout", coordination.lockTTL),
            ("leader_timeout", coordination.leaderTTL),
        ] where ttl > MemcachedTTL.longest {
            throw ToozError(
                .invalidConfiguration,
                "\(option) of \(ttl) is longer than memcached's longest relative TTL (30 days); a larger number is read as a date"
            )
        }

        var connection = MemcachedConnectionConfiguration(host: url.host ?? "localhost", port: url.port ?? defaultPort)
        if let timeout = try url.durationOption("timeout") {
            connection.connectTimeout = timeout
            connection.commandTimeout = timeout
        } else {
            connection.commandTimeout = .seconds(30)
        }
        // A pool size tunes pymemcache's pool; here every request pipelines on one connection.
        _ = try url.intOption("max_pool_size", range: 1...100_000)

        let tlsOptions = ["ca_cert", "ssl_key", "ssl_key_password", "ssl_cert", "ssl_ciphers", "ssl_check_hostname"]
        if try url.boolOption("use_ssl") == true {
            if url.option("ssl_key") != nil, url.option("ssl_cert") == nil {
                throw ToozError(.invalidConfiguration, "ssl_key needs ssl_cert (a client certificate and its key go together)")
            }
            connection.tls = MemcachedTLSConfiguration(
                caCertificatesPath: url.option("ca_cert"),
                certificatePath: url.option("ssl_cert"),
                privateKeyPath: url.option("ssl_key") ?? url.option("ssl_cert"),
                privateKeyPassword: url.option("ssl_key_password"),
                verifiesHostname: try url.boolOption("ssl_check_hostname") ?? false
            )
            if let ciphers = url.option("ssl_ciphers") {
                connection.tls?.cipherSuites = ciphers
            }
        } else if let option = tlsOptions.first(where: { url.option($0) != nil }) {
            throw ToozError(
                .invalidConfiguration,
                "\(option) needs use_ssl=true in \(url.redacted); without it the connection would not be encrypted"
            )
        }

        var configuration = MemcachedConfiguration(connection: connection)
        if let size = try url.intOption("item_size_max", range: 1024...(1 << 30)) {
            configuration.maximumItemSize = size
        }
        return (configuration, coordination)
    }
}
