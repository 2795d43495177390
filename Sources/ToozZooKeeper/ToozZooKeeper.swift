// The zookeeper:// backend (issue 4): jute records, the session state machine and the client
// over SwiftNIO, and the tooz backend on top. See docs/ARCHITECTURE.md.
import Tooz

/// Builds the `zookeeper://` and `kazoo://` backend from a tooz URL; `BackendFactory` calls this.
public enum ZooKeeperBackends {
    /// The backend and its coordinator configuration for `url`.
    ///
    /// Leases are the session: the session timeout is tooz's `timeout` (10 s by default), or
    /// the smallest of `membership_timeout`, `lock_timeout` and `leader_timeout` when one of
    /// them is given and shorter. The membership, lock and leader TTLs are all set to it, so the
    /// core checks each lease every third of the session timeout and gives it up at the
    /// session's own deadline. Waiters and event streams are woken by watches, so
    /// `lock_poll_interval` defaults to one second and `poll_interval` to 30 seconds (safety nets).
    ///
    /// - Throws: `invalidConfiguration` for a bad URL or option; `notImplemented` for `use_ssl`.
    /// The backend logs to the coordinator's logger, which it gets when it connects.
    public static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        var parsed = try ZooKeeperURL(url)
        var sessionTimeout = parsed.sessionTimeout
        for option in ["membership_timeout", "lock_timeout", "leader_timeout"] {
            if let value = try url.durationOption(option) { sessionTimeout = min(sessionTimeout, value) }
        }
        parsed.sessionTimeout = sessionTimeout
        var coordination = parsed.configuration
        coordination.membershipTTL = sessionTimeout
        coordination.lockTTL = sessionTimeout
        coordination.leaderTTL = sessionTimeout
        if url.option("lock_poll_interval") == nil { coordination.lockPollInterval = .seconds(1) }
        // Membership and leadership changes are pushed by watches; the periodic re-read of a
        // watched group is only a safety net, so it can be rare.
        if url.option("poll_interval") == nil { coordination.eventPollInterval = .seconds(30) }
        var client = try ZooKeeperClientConfiguration(url: parsed)
        client.sessionTimeout = sessionTimeout
        let backend = ZooKeeperBackend(url: parsed, clientConfiguration: client)
        return (backend, coordination)
    }
}
