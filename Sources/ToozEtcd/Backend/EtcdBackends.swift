import Logging
import Tooz

/// Builds the `etcd3+http://` backend from a tooz URL; `BackendFactory` calls this.
public enum EtcdBackends {
    /// The backend and the coordinator configuration (tooz's etcd3gw defaults: 30 s TTLs) for
    /// `url`.
    ///
    /// - Throws: `invalidConfiguration` for a bad URL or option.
    public static func make(
        _ url: BackendURL,
        logger: Logger = Logger(label: "tooz.etcd", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        let (configuration, coordination) = try EtcdConfiguration.make(url: url)
        return (EtcdBackend(configuration: configuration, logger: logger), coordination)
    }
}
