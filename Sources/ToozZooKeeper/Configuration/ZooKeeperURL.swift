import Tooz

/// The settings of a `zookeeper://` or `kazoo://` URL, read the way tooz 9.1 reads them.
///
/// `zookeeper://[USER:PASS@][HOST[:PORT]][?hosts=H:P&hosts=H2:P2&timeout=N&namespace=NS&…]`
///
/// - The ensemble is the URL's host followed by every `hosts=` value (each may hold several
///   comma-separated `host[:port]` entries, IPv6 in brackets); the default port is 2181 and an
///   empty list means `localhost:2181`, as in tooz.
/// - A chroot is written the way kazoo reads it, after the last host: `hosts=h3:2181/apps/x`.
/// - `timeout` (seconds, default 10) is the requested session timeout, and also the operation
///   and connect timeout, as in tooz.
/// - `namespace` (default `tooz`) is the node under which tooz keeps its groups and locks.
/// - A user and a password turn on digest authentication and tooz's digest ACL on every node.
/// - kazoo's `randomize_hosts`, `use_ssl`, `verify_certs`, `ca`, `certfile`, `keyfile`,
///   `keyfile_password` are read; `connection_retry`, `command_retry` and `handler` are accepted
///   for compatibility and have no effect. Any other option is refused.
package struct ZooKeeperURL: Sendable, Hashable, CustomStringConvertible {
    /// One server of the ensemble.
    package struct Server: Hashable, Sendable, CustomStringConvertible {
        package var host: String
        package var port: Int

        package init(host: String, port: Int = ZooKeeperURL.defaultPort) {
            self.host = host
            self.port = port
        }

        package var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
    }

    /// Digest credentials. The password is never shown.
    package struct Credentials: Hashable, Sendable, CustomStringConvertible {
        package var user: String
        package var password: String

        package init(user: String, password: String) {
            self.user = user
            self.password = password
        }

        package var description: String { "\(self.user):***" }
    }

    /// kazoo's TLS options, present when `use_ssl` is true. The key password is never shown.
    package struct TLS: Hashable, Sendable, CustomStringConvertible {
        package var verifyCertificates: Bool = true
        package var caFile: String?
        package var certificateFile: String?
        package var keyFile: String?
        package var keyPassword: String?

        package init() {}

        package var description: String {
            "TLS(verify: \(self.verifyCertificates), ca: \(self.caFile ?? "-"), cert: \(self.certificateFile ?? "-"), key: \(self.keyFile ?? "-")\(self.keyPassword == nil ? "" : ", key password: ***"))"
        }
    }

    package static let defaultPort = 2181
    package static let defaultNamespace = "tooz"
    package static let defaultSessionTimeout: Duration = .seconds(10)
    /// The schemes tooz maps to its kazoo driver.
    package static let schemes: Set<String> = ["zookeeper", "kazoo"]

    /// The options a ZooKeeper URL accepts: tooz's kazoo options and the common
    /// ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "hosts", "namespace", "randomize_hosts", "connection_retry", "command_retry", "use_ssl", "verify_certs",
        "ca", "certfile", "keyfile", "keyfile_password", "handler",
    ])

    /// The ensemble, in the order given, without duplicates.
    package var servers: [Server]
    /// The chroot every path is relative to, normalized (`/apps/x`), or `nil`.
    package var chroot: String?
    /// tooz's `namespace` option as given.
    package var namespace: String
    /// The node tooz keeps everything under, relative to the chroot (`/tooz`).
    package var basePath: String
    /// The session timeout to request; the server may negotiate it within its own bounds.
    package var sessionTimeout: Duration
    /// Digest credentials, when the URL has both a user and a password (tooz ignores one
    /// without the other).
    package var credentials: Credentials?
    /// Whether servers are tried in a random order (kazoo's default).
    package var randomizeHosts: Bool
    /// TLS settings, `nil` for plain TCP.
    package var tls: TLS?
    /// The common timing options.
    package var configuration: CoordinatorConfiguration

    /// Parses and validates `url`.
    ///
    /// - Throws: `invalidConfiguration` for another scheme, an unknown option, a bad value, a
    ///   bad host or port, or a path (tooz ignores the URL path; a chroot goes after the last host).
    package init(_ url: BackendURL) throws(ToozError) {
        guard Self.schemes.contains(url.scheme) else {
            throw ToozError(.invalidConfiguration, "\(url.scheme):// is not a ZooKeeper URL (expected zookeeper:// or kazoo://)")
        }
        try url.validateOptions(accepted: Self.urlOptions)
        if !url.path.isEmpty && url.path != "/" {
            throw ToozError(
                .invalidConfiguration,
                "\(url.redacted) has the path \(url.path.debugDescription), which tooz ignores; put a chroot after the last host (hosts=HOST:PORT/CHROOT) or use the namespace option"
            )
        }
        if let handler = url.option("handler"), !["threading", "eventlet"].contains(handler) {
            throw ToozError(
                .invalidConfiguration,
                "option handler=\(handler.debugDescription) is not a kazoo handler (accepted: eventlet, threading)"
            )
        }

        var entries: [Substring] = []
        if let host = url.host {
            let bracketed = host.contains(":") ? "[\(host)]" : host
            entries.append(Substring(url.port.map { "\(bracketed):\($0)" } ?? bracketed))
        } else if let port = url.port {
            throw ToozError(.invalidConfiguration, "\(url.redacted) has port \(port) but no host")
        }
        for value in url.options["hosts"] ?? [] {
            entries.append(contentsOf: value.split(separator: ",", omittingEmptySubsequences: false))
        }
        var servers: [Server] = []
        var chroot: String?
        for (index, rawEntry) in entries.enumerated() {
            var entry = rawEntry.trimmingWhitespace()
            if let slash = entry.firstIndex(of: "/") {
                guard index == entries.count - 1 else {
                    throw ToozError(
                        .invalidConfiguration,
                        "hosts entry \(String(entry).debugDescription) has a chroot but is not the last host; a chroot goes after the last host only"
                    )
                }
                chroot = try Self.normalizedPath(entry[slash...], what: "chroot")
                entry = entry[..<slash]
            }
            if entry.isEmpty {
                if index == entries.count - 1 && chroot != nil { continue }
                throw ToozError(.invalidConfiguration, "option hosts has an empty host entry")
            }
            let server = try Self.parseServer(entry)
            if !servers.contains(server) { servers.append(server) }
        }
        if servers.isEmpty { servers = [Server(host: "localhost")] }
        self.servers = servers
        self.chroot = chroot == "/" ? nil : chroot

        self.namespace = url.option("namespace") ?? Self.defaultNamespace
        self.basePath = try Self.normalizedPath(Substring(self.namespace), what: "namespace")
        guard self.basePath != "/" else {
            throw ToozError(.invalidConfiguration, "option namespace=\(self.namespace.debugDescription) must name a node")
        }

        var configuration = CoordinatorConfiguration()
        try configuration.apply(url, timeoutMeans: .operationTimeout)
        self.configuration = configuration
        self.sessionTimeout = try url.durationOption("timeout") ?? Self.defaultSessionTimeout
        guard self.sessionTimeout <= .milliseconds(Int64(Int32.max)) else {
            throw ToozError(.invalidConfiguration, "option timeout is too large for a ZooKeeper session timeout")
        }

        if let user = url.user, let password = url.password, !user.isEmpty, !password.isEmpty {
            self.credentials = Credentials(user: user, password: password)
        } else {
            self.credentials = nil
        }
        self.randomizeHosts = try url.boolOption("randomize_hosts") ?? true
        if try url.boolOption("use_ssl") ?? false {
            var tls = TLS()
            tls.verifyCertificates = try url.boolOption("verify_certs") ?? true
            tls.caFile = url.option("ca")
            tls.certificateFile = url.option("certfile")
            tls.keyFile = url.option("keyfile")
            tls.keyPassword = url.option("keyfile_password")
            self.tls = tls
        } else {
            // Validated even when unused, so a typo does not hide until TLS is turned on.
            _ = try url.boolOption("verify_certs")
            self.tls = nil
        }
    }

    /// Parses `string` as a backend URL, then as a ZooKeeper URL.
    package init(parsing string: String) throws(ToozError) {
        try self.init(BackendURL(string))
    }

    /// The ACL for nodes tooz creates: the digest ACL with credentials, else open to anyone
    /// (kazoo's defaults).
    package var defaultACL: [ZooKeeperACL] {
        guard let credentials else { return ZooKeeperACL.openUnsafe }
        return [ZooKeeperDigest.acl(user: credentials.user, password: credentials.password)]
    }

    /// The packets that authenticate each new connection.
    package var authPackets: [ZooKeeperAuthPacket] {
        guard let credentials else { return [] }
        return [ZooKeeperDigest.authPacket(user: credentials.user, password: credentials.password)]
    }

    /// The path the server knows for `path` (which is relative to the chroot, and absolute).
    package func serverPath(_ path: String) -> String {
        guard let chroot else { return path }
        return path == "/" ? chroot : chroot + path
    }

    /// The path relative to the chroot for a path the server sent, or `nil` when it lies
    /// outside the chroot.
    package func clientPath(fromServer path: String) -> String? {
        guard let chroot else { return path }
        if path == chroot { return "/" }
        guard path.hasPrefix(chroot + "/") else { return nil }
        return String(path.dropFirst(chroot.count))
    }

    /// The connection string kazoo would log: the hosts and the chroot. No credentials.
    package var description: String {
        let hosts = self.servers.map(\.description).joined(separator: ",")
        return "zookeeper://\(hosts)\(self.chroot ?? "") (namespace \(self.basePath), session timeout \(self.sessionTimeout))"
    }

    // MARK: - Parsing

    private static func parseServer(_ entry: Substring) throws(ToozError) -> Server {
        let (host, port) = try HostPort.parse(entry, defaultPort: Self.defaultPort)
        return Server(host: host, port: port)
    }

    /// kazoo's `normpath` with a leading slash: empty components dropped, `.` and `..` refused.
    private static func normalizedPath(_ path: Substring, what: String) throws(ToozError) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard component != "." && component != ".." else {
                throw ToozError(.invalidConfiguration, "the \(what) \(String(path).debugDescription) has a relative component")
            }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
