import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// The `zookeeper://` (and `kazoo://`) backend: tooz 9.1.0's kazoo layout (reference §2.2), so
/// that Python tooz members and Swift members on one ensemble share groups and exclude each
/// other, without tooz's layout bugs.
///
/// - Groups are persistent nodes `/NS/<g>`, members ephemeral children holding oslo msgpack
///   capabilities. The `leader` child is the leadership recipe, never a member (a member id
///   `leader` is refused with `invalidArgument`); the `locks` node is never a group (a group id
///   `locks` is refused the same way).
/// - Locks (`/NS/locks/<name>`) and leadership (`/NS/<g>/leader`) use kazoo's lock recipe: an
///   ephemeral sequential `<uuid4hex>__lock__<seq>` node holding the member id; the lowest
///   sequence holds. A losing attempt deletes its node at once, as kazoo's non-blocking
///   acquire does; waiters watch the holder's node and are woken when it goes. A campaign
///   creates the group's path when missing, as tooz's does; reading the leader or a holder
///   never creates anything. `breakLock` deletes the holder's node (kazoo has no `break_`).
/// - The fencing token is the lock node's `czxid`: linearizable, it grows with every
///   acquisition of every lock on the ensemble.
/// - Liveness is the ZooKeeper session, and its granted timeout is every lease's TTL. Session
///   states are reported to the coordinator as they happen (suspended → uncertain, resumed →
///   refresh now, expired → lost at once); the core also refreshes each lease (an `exists` on
///   the lock node) every third of the session timeout. After a session expiry the client opens
///   a new session, the heartbeat reports the member nodes missing, and the coordinator re-joins.
/// - Membership and leadership changes are pushed by child and data watches.
public final class ZooKeeperBackend: CoordinationBackend {
    package let url: ZooKeeperURL
    package let clientConfiguration: ZooKeeperClientConfiguration
    package let paths: ZooKeeperPaths
    let watches = ZooKeeperGroupWatches()
    /// The one event loop the session runs on.
    private let eventLoopGroup: any EventLoopGroup
    /// That event loop as a task executor: the coordinator's work runs next to the I/O.
    public let taskExecutor: (any TaskExecutor)?
    private let state = Mutex(State())

    struct State {
        var client: ZooKeeperClient?
    }

    /// A lock node we created: the grant's handle, what refresh and release look at.
    struct HeldNode: Sendable {
        var path: String
        var czxid: Int64
    }

    package init(
        url: ZooKeeperURL,
        clientConfiguration: ZooKeeperClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.url = url
        self.clientConfiguration = clientConfiguration
        self.paths = ZooKeeperPaths(base: url.basePath)
        let eventLoop = eventLoopGroup.next()
        self.eventLoopGroup = eventLoop
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
    }

    public var info: BackendInfo { Self.staticInfo }

    private static let staticInfo: BackendInfo = {
        var forbidden: Set<Character> = ["/", "\0"]
        // ZooKeeper refuses control characters in paths.
        for value in UInt8(1)...0x1F {
            forbidden.insert(Character(Unicode.Scalar(value)))
        }
        forbidden.insert(Character(Unicode.Scalar(UInt8(0x7F))))
        return BackendInfo(
            name: "zookeeper",
            features: .all,
            fencing: .linearizable,
            eventDelivery: .pushed,
            leaseKind: .ttl,
            characteristics: [
                .distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .nonTimeoutBased,
                .sequential,
            ],
            // `locks` is the lock tree's node under the namespace, `leader` the leadership recipe
            // inside a group (tooz's bugs §4.2.1 and §4.2.2); `.` and `..` are not node names.
            nameRules: NameRules(
                maximumLength: 512, forbiddenCharacters: forbidden, asciiOnly: true,
                reserved: [
                    .group: [ZooKeeperPaths.locksNode, ".", ".."], .member: [ZooKeeperPaths.leaderNode, ".", ".."],
                    .lock: [".", ".."],
                ]
            ),
            // A request must fit the server's jute.maxbuffer (1 MiB) with its path and ACL.
            maximumCapabilitiesSize: 1_000_000
        )
    }()

    // MARK: Lifecycle

    public func connect(_ context: BackendContext) async throws {
        let client = try await ZooKeeperClient.connect(
            configuration: clientConfiguration, eventLoopGroup: eventLoopGroup, logger: context.logger
        )
        client.onSessionState { state in
            switch state {
            case .suspended: context.report(.connectionInterrupted)
            case .reconnected, .connected: context.report(.connectionRestored)
            case .expired: context.report(.sessionExpired)
            case .connecting, .authenticationFailed, .closed: break
            }
        }
        do {
            try await client.ensurePath(paths.base)
        } catch is CancellationError {
            // The caller gave up (its start-up timeout) after the session was granted, while
            // the server did not answer (frozen, overloaded): say so, not a bare CancellationError.
            await client.close()
            throw ToozError(
                .connectionFailed,
                "gave up connecting to ZooKeeper (\(client.serverList)): a session was granted, but creating \(paths.base) got no answer in time"
            )
        } catch {
            await client.close()
            throw error
        }
        state.withLock { $0.client = client }
    }

    public func disconnect() async {
        let client = state.withLock { state -> ZooKeeperClient? in
            defer { state.client = nil }
            return state.client
        }
        // Closing the session deletes its ephemeral nodes at once: peers see us leave now.
        await client?.close()
        watches.wakeEveryone()
    }

    /// `exists` on the namespace node: the raw round trip of `tooz bench`.
    public func ping() async throws {
        _ = try await client().exists(paths.base)
    }

    // MARK: Shared helpers

    package func client() throws(ToozError) -> ZooKeeperClient {
        guard let client = state.withLock({ $0.client }) else {
            throw ToozError(.connectionFailed, "the zookeeper backend is not connected")
        }
        return client
    }

    /// Runs an idempotent read again when the connection broke before its reply: the client
    /// waits for the session to resume before it sends the retry.
    func retryingConnectionLoss<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as ToozError where error.zooKeeperCode == .connectionLoss && attempt < 2 {
                attempt += 1
            }
        }
    }

    /// The ZooKeeper code behind `error`, if it came from the client.
    static func code(_ error: any Error) -> ZooKeeperErrorCode? {
        (error as? ToozError)?.zooKeeperCode
    }
}
