import Logging
@_exported import Tooz
import ToozEtcd
import ToozLocal
import ToozMemcached
import ToozMySQL
import ToozPostgres
import ToozRedis
import ToozZooKeeper

/// Builds backends from tooz URLs: the one place that knows every scheme.
public enum BackendFactory {
    /// Every scheme this build understands, for error messages.
    public static let schemes = ["memory", "file", "ipc", "redis", "zookeeper", "kazoo", "memcached", "etcd3+http", "etcd3+https", "etcd", "postgresql", "mysql"]

    /// Parses `url` and builds its backend with the configuration its options ask for.
    ///
    /// - Throws: `invalidConfiguration` for a malformed URL, an unknown scheme or option, or a bad
    ///   option value; the message names it and lists what is accepted.
    public static func makeBackend(url: String) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let parsed = try BackendURL(url)
        switch parsed.scheme {
        case "memory":
            try parsed.validateOptions(accepted: CoordinatorConfiguration.urlOptions)
            var configuration = CoordinatorConfiguration()
            configuration.lockPollInterval = .milliseconds(50)
            try configuration.apply(parsed)
            let name = (parsed.host ?? "") + parsed.path
            let backend = MemoryBackend(store: MemoryStore.named(name), membershipTTL: configuration.membershipTTL)
            return (backend, configuration)
        case "redis":
            return try RedisBackends.make(parsed)
        case "zookeeper", "kazoo":
            return try ZooKeeperBackends.make(parsed)
        case "memcached":
            return try MemcachedBackends.make(parsed)
        case "etcd3+http", "etcd3+https", "etcd", "etcds":
            return try EtcdBackends.make(parsed)
        case "postgresql", "postgres":
            return try PostgresBackends.make(parsed)
        case "mysql":
            return try MySQLBackends.make(parsed)
        default:
            if let local = try LocalBackends.make(parsed) { return local }
            throw ToozError(
                .invalidConfiguration,
                "unknown backend scheme \(parsed.scheme.debugDescription) in \(parsed.redacted) (accepted: \(schemes.map { $0 + "://" }.joined(separator: ", ")))"
            )
        }
    }
}

extension Coordinator {
    /// Creates a coordinator for the backend `url` names. tooz: `get_coordinator(url, member_id)`.
    ///
    /// ```swift
    /// let coordinator = try Coordinator(url: "file:///var/lib/tooz", member: "worker-1")
    /// ```
    ///
    /// - Throws: `invalidConfiguration` for a bad URL; `invalidArgument` for a bad member id.
    public convenience init(
        url: String,
        member: MemberID,
        logger: Logger = Logger(label: "tooz", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) {
        let (backend, configuration) = try BackendFactory.makeBackend(url: url)
        try self.init(backend: backend, member: member, configuration: configuration, logger: logger)
    }
}
