import Logging
import Tooz

/// Builds the `redis://` backend from a tooz URL; `BackendFactory` calls this.
public enum RedisBackends {
    /// The backend and the coordinator configuration (tooz's Redis defaults: 30 s TTLs) for `url`.
    ///
    /// - Throws: `invalidConfiguration` for a bad URL or option.
    public static func make(
        _ url: BackendURL,
        logger: Logger = Logger(label: "tooz.redis", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let (configuration, coordination) = try RedisConfiguration.make(url: url)
        let backend = RedisBackend(configuration: configuration, membershipTTL: coordination.membershipTTL, logger: logger)
        return (backend, coordination)
    }
}
