import Tooz

extension CoordinatorConfiguration {
    /// This configuration with an operation timeout of at least ``Swift/Duration/testPatience``.
    ///
    /// The operation timeout is how long `withRunning` (and any call made before `run()` has
    /// connected) waits for the backend to connect, and how long shutdown waits for scoped
    /// bodies: waits for something to happen, which a loaded machine can stretch past the
    /// default 10 s.
    package var patient: CoordinatorConfiguration {
        var configuration = self
        configuration.operationTimeout = max(configuration.operationTimeout, .testPatience)
        return configuration
    }
}
