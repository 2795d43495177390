/// Timing settings shared by every backend. Backends set their own defaults (tooz's) and the
/// URL options `timeout`, `membership_timeout`, `lock_timeout`, `leader_timeout` and
/// `poll_interval` override them.
public struct CoordinatorConfiguration: Sendable, Hashable {
    /// How long an operation may wait for ``Coordinator/run()`` to connect, and the bound on
    /// graceful shutdown. tooz: `timeout` on most drivers.
    public var operationTimeout: Duration = .seconds(10)
    /// How long a member stays alive without a heartbeat on TTL backends. tooz: `membership_timeout`.
    public var membershipTTL: Duration = .seconds(30)
    /// The lease of a lock on TTL backends. tooz: `lock_timeout`.
    public var lockTTL: Duration = .seconds(30)
    /// The lease of a leadership on TTL backends. tooz: `leader_timeout`.
    public var leaderTTL: Duration = .seconds(30)
    /// How often leases are renewed, as a fraction of their TTL (a third, as etcd and Curator do).
    public var renewalFraction: Double = 1.0 / 3.0
    /// How often a polled backend's groups are re-read for ``Coordinator/events(in:)``, and how
    /// often a waiting campaign re-checks a leadership that cannot push.
    public var eventPollInterval: Duration = .seconds(1)
    /// The longest a lock waiter sleeps between two attempts on a backend that cannot wake it.
    public var lockPollInterval: Duration = .milliseconds(100)

    public init() {}

    /// The heartbeat period for memberships: a third of the membership TTL.
    public var heartbeatInterval: Duration { membershipTTL * renewalFraction }

    /// The safety margin subtracted from a lease's deadline: a fifth of the TTL, but at least
    /// one second (a third of the TTL when that is less) and at most two seconds.
    /// It covers clock-rate differences between us and the server, the request's travel time, and
    /// the time it takes to stop a body or a command on a loaded host, which on a busy 2-core
    /// machine was seen to reach a second: a fifth of a 3 s TTL was not enough.
    public func safetyMargin(for ttl: Duration) -> Duration {
        min(max(ttl / 5, min(.seconds(1), ttl / 3)), .seconds(2))
    }

    /// The URL options this struct understands.
    public static let urlOptions: Set<String> = [
        "timeout", "membership_timeout", "lock_timeout", "leader_timeout", "poll_interval", "lock_poll_interval",
    ]

    /// Applies the common URL options. `timeoutMeans` is what tooz's `timeout` option stands for
    /// on this backend (it differs between drivers).
    public mutating func apply(_ url: BackendURL, timeoutMeans: TimeoutOption = .operationTimeout) throws(ToozError) {
        if let timeout = try url.durationOption("timeout") {
            switch timeoutMeans {
            case .operationTimeout: operationTimeout = timeout
            case .membershipTTL: membershipTTL = timeout
            case .allTTLs:
                membershipTTL = timeout
                lockTTL = timeout
                leaderTTL = timeout
            }
        }
        if let value = try url.durationOption("membership_timeout") { membershipTTL = value }
        if let value = try url.durationOption("lock_timeout") { lockTTL = value }
        if let value = try url.durationOption("leader_timeout") { leaderTTL = value }
        if let value = try url.durationOption("poll_interval") { eventPollInterval = value }
        if let value = try url.durationOption("lock_poll_interval") { lockPollInterval = value }
    }

    /// What tooz's `timeout` URL option means for a backend.
    public enum TimeoutOption: Sendable {
        case operationTimeout
        case membershipTTL
        case allTTLs
    }
}
