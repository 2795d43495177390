import Logging
import Tooz

/// Builds the `postgresql://` backend from a tooz URL; `BackendFactory` calls this.
public enum PostgresBackends {
    /// The backend and the coordinator configuration for `url`.
    ///
    /// - Throws: `invalidConfiguration` for a bad URL, option or certificate file.
    public static func make(
        _ url: BackendURL,
        logger: Logger = Logger(label: "tooz.postgresql", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let (configuration, coordination) = try PostgresConfiguration.make(url: url)
        let backend = try PostgresBackend(configuration: configuration, membershipTTL: coordination.membershipTTL, logger: logger)
        return (backend, coordination)
    }
}
