import Tooz

/// How a ``ZooKeeperClient`` connects and what it asks for.
///
/// Usually made from a URL with ``init(url:)``; every field can be changed afterwards.
package struct ZooKeeperClientConfiguration: Sendable, Hashable {
    /// The ensemble. Servers are tried in turn (after one shuffle when ``randomizeHosts``).
    package var servers: [ZooKeeperURL.Server]
    /// The node every path is relative to (`/apps/x`), or `nil`. It must exist on the server.
    package var chroot: String?
    /// The session timeout to ask for; the server negotiates it within its own bounds
    /// (by default 2 to 20 ticks).
    package var sessionTimeout: Duration
    /// How long one connection attempt (TCP connect, then the handshake) may take before the
    /// next server is tried; `nil` for the Java client's rule, the session timeout divided by
    /// the number of servers.
    package var connectTimeout: Duration?
    /// How long ``ZooKeeperClient/connect(configuration:eventLoopGroup:logger:)`` waits for
    /// the first session, and how long one request waits for its reply (queued requests
    /// included) before it fails with `timedOut`.
    package var operationTimeout: Duration
    /// Digest credentials sent after every handshake, and the identity of ``defaultACL``.
    package var credentials: ZooKeeperURL.Credentials?
    /// The ACL given to created nodes when the call names none.
    package var defaultACL: [ZooKeeperACL]
    /// Whether the server list is shuffled once before the first connection (kazoo's default).
    package var randomizeHosts: Bool
    /// Whether a new session is opened by itself after the session expired (kazoo's
    /// behaviour). When `false`, the client stays `expired` and every call fails with
    /// `leaseLost` until it is closed.
    package var reconnectAfterExpiry: Bool
    /// The largest reply frame accepted (the Java client's `jute.maxbuffer`, 4 MiB).
    package var maximumFrameLength: Int

    /// A configuration for `servers` with kazoo's defaults: a 10 s session, open ACLs, no
    /// credentials, randomized hosts.
    package init(
        servers: [ZooKeeperURL.Server],
        chroot: String? = nil,
        sessionTimeout: Duration = ZooKeeperURL.defaultSessionTimeout,
        operationTimeout: Duration = ZooKeeperURL.defaultSessionTimeout
    ) {
        self.servers = servers
        self.chroot = chroot
        self.sessionTimeout = sessionTimeout
        self.connectTimeout = nil
        self.operationTimeout = operationTimeout
        self.credentials = nil
        self.defaultACL = ZooKeeperACL.openUnsafe
        self.randomizeHosts = true
        self.reconnectAfterExpiry = true
        self.maximumFrameLength = ZooKeeperFrameDecoder.defaultMaximumFrameLength
    }

    /// The settings of a tooz URL: its ensemble, chroot, `timeout` (session and operation
    /// timeout, as in tooz), credentials with tooz's digest ACL, and `randomize_hosts`.
    ///
    /// - Throws: `notImplemented` when the URL asks for TLS (`use_ssl=true`), which this
    ///   client does not speak yet.
    package init(url: ZooKeeperURL) throws(ToozError) {
        if url.tls != nil {
            throw ToozError.notImplemented("TLS (use_ssl)", backend: "zookeeper")
        }
        self.init(
            servers: url.servers,
            chroot: url.chroot,
            sessionTimeout: url.sessionTimeout,
            operationTimeout: url.configuration.operationTimeout
        )
        self.credentials = url.credentials
        self.defaultACL = url.defaultACL
        self.randomizeHosts = url.randomizeHosts
    }

    /// The path the server knows for `path` (absolute, relative to the chroot).
    func serverPath(_ path: String) -> String {
        guard let chroot else { return path }
        return path == "/" ? chroot : chroot + path
    }

    /// The chroot-relative path of a server path, or `nil` when it lies outside the chroot.
    func clientPath(fromServer path: String) -> String? {
        guard let chroot else { return path }
        if path == chroot { return "/" }
        guard path.hasPrefix(chroot + "/") else { return nil }
        return String(path.dropFirst(chroot.count))
    }

    /// The authentication packets of ``credentials``.
    var authPackets: [ZooKeeperAuthPacket] {
        guard let credentials else { return [] }
        return [ZooKeeperDigest.authPacket(user: credentials.user, password: credentials.password)]
    }
}
