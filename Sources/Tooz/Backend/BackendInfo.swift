/// What a backend can do and what it guarantees. A typed form of tooz's `Characteristics`,
/// plus fencing strength, event delivery and lease kind.
public struct BackendInfo: Sendable, Hashable {
    /// The backend's scheme-like name, used in messages (`"file"`, `"redis"`).
    public var name: String
    /// The operations the backend implements; the rest fail with `notImplemented`.
    public var features: BackendFeatures
    /// How much a fencing token from this backend can be trusted.
    public var fencing: FencingStrength
    /// Whether membership and leadership changes are pushed by the backend or polled by the core.
    public var eventDelivery: EventDelivery
    /// Whether locks and leadership live as long as a session or must be renewed before a TTL.
    public var leaseKind: LeaseKind
    /// tooz's characteristics, for callers that select a backend by them.
    public var characteristics: Set<Characteristic>
    /// Limits on names, checked before any I/O.
    public var nameRules: NameRules
    /// The largest encoded capabilities the backend stores, in bytes.
    public var maximumCapabilitiesSize: Int

    public init(
        name: String,
        features: BackendFeatures,
        fencing: FencingStrength,
        eventDelivery: EventDelivery,
        leaseKind: LeaseKind,
        characteristics: Set<Characteristic>,
        nameRules: NameRules = NameRules(),
        maximumCapabilitiesSize: Int = 1 << 20
    ) {
        self.name = name
        self.features = features
        self.fencing = fencing
        self.eventDelivery = eventDelivery
        self.leaseKind = leaseKind
        self.characteristics = characteristics
        self.nameRules = nameRules
        self.maximumCapabilitiesSize = maximumCapabilitiesSize
    }
}

/// The operations a backend implements.
public struct BackendFeatures: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// create, delete and list groups.
    public static let groups = BackendFeatures(rawValue: 1 << 0)
    /// join, leave, members and capabilities of members.
    public static let membership = BackendFeatures(rawValue: 1 << 1)
    /// update a member's own capabilities after joining.
    public static let updateCapabilities = BackendFeatures(rawValue: 1 << 2)
    /// campaign for and hold the leadership of a group.
    public static let leaderElection = BackendFeatures(rawValue: 1 << 3)
    /// read who leads a group.
    public static let leaderQuery = BackendFeatures(rawValue: 1 << 4)
    /// exclusive locks.
    public static let locks = BackendFeatures(rawValue: 1 << 5)
    /// forcibly remove another holder's lock (tooz: `break_`).
    public static let breakLock = BackendFeatures(rawValue: 1 << 6)

    public static let all: BackendFeatures = [
        .groups, .membership, .updateCapabilities, .leaderElection, .leaderQuery, .locks, .breakLock,
    ]
}

extension BackendFeatures: CustomStringConvertible {
    public var description: String {
        let names: [(BackendFeatures, String)] = [
            (.groups, "groups"), (.membership, "membership"), (.updateCapabilities, "update capabilities"),
            (.leaderElection, "leader election"), (.leaderQuery, "leader query"), (.locks, "locks"),
            (.breakLock, "break lock"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}

/// How far a fencing token from a backend can be trusted. See docs/BACKENDS.md.
public enum FencingStrength: String, Sendable, Hashable, CaseIterable {
    /// Ordered by a consensus log (ZooKeeper czxid, etcd revision).
    case linearizable
    /// A durable counter on one server (PostgreSQL, a counter file on disk).
    case durable
    /// A counter that may go backwards after a failover (Redis INCR with asynchronous replication).
    case failoverUnsafe
    /// No promise beyond a single server that does not evict (memcached).
    case bestEffort
    /// Valid on one host and, for in-memory state, one process or boot.
    case hostLocal
}

/// How the core learns about membership and leadership changes.
public enum EventDelivery: Sendable, Hashable {
    /// The backend notifies the core (watches, notifications).
    case pushed
    /// The core re-reads the group at ``CoordinatorConfiguration/eventPollInterval``.
    case polled
}

/// How a lock or leadership stays held.
public enum LeaseKind: Sendable, Hashable {
    /// Held until released or until the owning process or session ends; nothing to renew.
    case session
    /// Expires unless refreshed before its TTL runs out.
    case ttl
}

/// tooz's `Characteristics`.
public enum Characteristic: String, Sendable, Hashable, CaseIterable {
    case distributedAcrossThreads = "DISTRIBUTED_ACROSS_THREADS"
    case distributedAcrossProcesses = "DISTRIBUTED_ACROSS_PROCESSES"
    case distributedAcrossHosts = "DISTRIBUTED_ACROSS_HOSTS"
    case nonTimeoutBased = "NON_TIMEOUT_BASED"
    case linearizable = "LINEARIZABLE"
    case sequential = "SEQUENTIAL"
    case causal = "CAUSAL"
    case serializable = "SERIALIZABLE"
    case sameViewUnderPartitions = "SAME_VIEW_UNDER_PARTITIONS"
    case sameViewAcrossClients = "SAME_VIEW_ACROSS_CLIENTS"
}
