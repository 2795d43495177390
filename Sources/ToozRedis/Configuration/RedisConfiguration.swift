import Tooz

/// Everything the `redis://` backend needs to reach its server and lay out its keys.
///
/// Built from a tooz URL by ``RedisConfiguration/make(url:)``; the URL forms and options are
/// tooz's (see docs/BACKENDS.md).
package struct RedisConfiguration: Sendable {
    /// Where the master is: one server, or found through Sentinel.
    package enum Servers: Sendable, Hashable {
        case direct(RedisEndpoint)
        /// `sentinels` are asked in order for the master called `masterName`.
        case sentinel(masterName: String, sentinels: [RedisEndpoint])
    }

    package var servers: Servers
    /// How to talk to the master (credentials, database, TLS, timeouts).
    package var connection: RedisConnectionConfiguration
    /// How to talk to the sentinels: their own credentials and TLS (tooz's `sentinel_username`,
    /// `sentinel_password`, `sentinel_ssl`), the master's timeouts.
    package var sentinelConnection: RedisConnectionConfiguration
    /// tooz's `namespace`: the prefix of every key (`_tooz`).
    package var namespace: String
    /// The first wait before reconnecting after a failed connection attempt; doubled per failure.
    package var reconnectInitialDelay: Duration
    /// The longest wait between two connection attempts.
    package var reconnectMaximumDelay: Duration

    package init(
        servers: Servers,
        connection: RedisConnectionConfiguration = RedisConnectionConfiguration(),
        sentinelConnection: RedisConnectionConfiguration = RedisConnectionConfiguration(),
        namespace: String = "_tooz",
        reconnectInitialDelay: Duration = .milliseconds(50),
        reconnectMaximumDelay: Duration = .seconds(1)
    ) {
        self.servers = servers
        self.connection = connection
        self.sentinelConnection = sentinelConnection
        self.namespace = namespace
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaximumDelay = reconnectMaximumDelay
    }
}
