import Logging
import Tooz

/// Builds the `mysql://` backend from a tooz URL; `BackendFactory` calls this.
public enum MySQLBackends {
    /// The backend and the coordinator configuration for `url`.
    ///
    /// - Throws: `invalidConfiguration` for a bad URL or option.
    public static func make(
        _ url: BackendURL,
        logger: Logger = Logger(label: "tooz.mysql", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let (configuration, coordination) = try MySQLConfiguration.make(url: url)
        let backend = MySQLBackend(configuration: configuration, membershipTTL: coordination.membershipTTL, logger: logger)
        return (backend, coordination)
    }
}
