#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

extension FileBackend {
    /// The options a `file://` URL accepts: tooz's `timeout` (membership liveness) and
    /// `executor` (accepted for URL compatibility and ignored: there is no thread pool), plus the
    /// common ``CoordinatorConfiguration/urlOptions``.
    public static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union(["timeout", "executor"])

    /// Builds the backend for `file:///ABS/DIR[?timeout=N]`. An empty path (`file://`) means the
    /// user's state directory, `$XDG_STATE_HOME/tooz` or `$HOME/.local/state/tooz`.
    ///
    /// - Throws: `invalidConfiguration` for a relative or otherwise bad path, a host other than
    ///   `localhost`, credentials, a port, or an unknown option.
    static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        try url.validateOptions(accepted: urlOptions)
        var configuration = CoordinatorConfiguration()
        configuration.membershipTTL = .seconds(10)  // tooz's default `timeout`
        configuration.lockPollInterval = .milliseconds(10)  // a try is one local system call
        try configuration.apply(url, timeoutMeans: .membershipTTL)
        let backend = try FileBackend(
            directory: try directory(of: url, environment: { name in getenv(name).map { String(cString: $0) } }),
            membershipTTL: configuration.membershipTTL,
            driverLockTimeout: configuration.operationTimeout
        )
        return (backend, configuration)
    }

    /// The directory a `file://` URL names, with `environment` standing for `getenv`.
    static func directory(of url: BackendURL, environment: (String) -> String?) throws(ToozError) -> String {
        if url.user != nil || url.password != nil || url.port != nil {
            throw ToozError(.invalidConfiguration, "a file:// URL takes no user, password or port: \(url.redacted)")
        }
        if let host = url.host, !host.isEmpty, host.lowercased() != "localhost" {
            throw ToozError(
                .invalidConfiguration,
                "file://\(host)\(url.path) names host \(host.debugDescription), not an absolute directory; use file:///ABSOLUTE/DIR"
            )
        }
        if url.path.isEmpty { return try defaultDirectory(environment: environment) }
        return try normalizedDirectory(url.path)
    }

    /// `$XDG_STATE_HOME/tooz`, else `$HOME/.local/state/tooz` (the XDG base directory rules:
    /// a relative `XDG_STATE_HOME` is ignored).
    static func defaultDirectory(environment: (String) -> String?) throws(ToozError) -> String {
        if let state = environment("XDG_STATE_HOME"), state.hasPrefix("/") {
            return try normalizedDirectory(state + "/tooz")
        }
        guard let home = environment("HOME"), home.hasPrefix("/") else {
            throw ToozError(
                .invalidConfiguration,
                "file:// without a directory needs XDG_STATE_HOME or HOME to be an absolute path; use file:///ABSOLUTE/DIR"
            )
        }
        return try normalizedDirectory(home + "/.local/state/tooz")
    }
}
