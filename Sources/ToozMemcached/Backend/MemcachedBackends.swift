import Logging
import Tooz

/// Builds the `memcached://` backend from a tooz URL; `BackendFactory` calls this.
public enum MemcachedBackends {
    /// The backend and the coordinator configuration (tooz's memcached defaults: 30 s TTLs)
    /// for `url`.
    ///
    /// - Throws: `invalidConfiguration` for a bad URL or option.
    public static func make(
        _ url: BackendURL,
        logger: Logger = Logger(label: "tooz.memcached", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let (configuration, coordination) = try MemcachedConfiguration.make(url: url)
        let backend = MemcachedBackend(configuration: configuration, membershipTTL: coordination.membershipTTL, logger: logger)
        return (backend, coordination)
    }
}
