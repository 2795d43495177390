import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// The `redis://` backend: tooz 9.1.0's Redis layout, so that Python tooz members and Swift
/// members on one server share groups and exclude each other, plus fencing tokens, the
/// leader's identity and pub/sub-woken waiters in keys and channels tooz does not read.
///
/// Every check-then-write runs as one Lua script (see ``RedisScripts``). Locks and leadership
/// are TTL leases that the coordinator refreshes; a member stays alive by its beat key.
/// See docs/BACKENDS.md for what a Redis failover does to these guarantees.
public final class RedisBackend: CoordinationBackend {
    let client: RedisClient
    let keys: RedisKeys
    let notifications: RedisNotifications
    let membershipTTL: Duration
    /// The member whose beat key this backend keeps, deleted on disconnect as tooz's `stop()` does.
    private let beatState = Mutex<MemberID?>(nil)
    private let logger: Logger

    /// The event loop every connection of this backend lives on, as a task executor: the
    /// coordinator's work runs there, next to the I/O.
    public let taskExecutor: (any TaskExecutor)?

    package init(
        configuration: RedisConfiguration, membershipTTL: Duration, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        let eventLoop = eventLoopGroup.next()
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.client = RedisClient(configuration: configuration, eventLoopGroup: eventLoop, logger: logger)
        self.keys = RedisKeys(namespace: configuration.namespace)
        self.notifications = RedisNotifications(keys: keys, logger: logger)
        self.membershipTTL = membershipTTL
        self.logger = logger
    }

    public var info: BackendInfo { Self.staticInfo }

    private static let staticInfo = BackendInfo(
        name: "redis",
        features: .all,
        fencing: .failoverUnsafe,
        // Client tracking pushes changes by anyone (pub/sub from swift-tooz members on Redis < 6).
        eventDelivery: .pushed,
        leaseKind: .ttl,
        characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .causal],
        // Keys are binary-safe; the limit keeps one name far below a request's size.
        // `__created__` is the hash field that marks a group as created in tooz's layout.
        nameRules: NameRules(maximumLength: 1024, reserved: [.member: [RedisKeys.createdField]]),
        maximumCapabilitiesSize: 1 << 20
    )

    // MARK: Lifecycle

    public func connect(_ context: BackendContext) async throws {
        client.use(logger: context.logger)
        notifications.use(logger: context.logger)
        client.onConnectionClosed { context.report(.connectionInterrupted) }
        try await client.connect()
        // Load every script once, so that no operation pays for a NOSCRIPT round trip later.
        let replies = try await client.send(RedisScripts.all.map { RedisCommand("SCRIPT", "LOAD", $0.source) })
        for (reply, script) in zip(replies, RedisScripts.all) where reply.string != script.sha1 {
            throw ToozError(
                .backendError,
                "\(client.target) did not load script \(script.name): \(reply.errorMessage ?? "unexpected reply")"
            )
        }
    }

    public func disconnect() async {
        // tooz's stop() deletes the beat key, so peers see us gone at once rather than after the TTL.
        if let member = beatingMember() {
            _ = try? await client.send(RedisCommand("DEL", keys.beat(member)))
        }
        await notifications.close()
        await client.close()
    }

    public func ping() async throws {
        let reply = try await client.request(RedisCommand("PING"))
        guard reply.string == "PONG" else {
            throw ToozError(.backendError, "\(client.target) answered PING with something other than PONG")
        }
    }

    // MARK: Shared helpers

    /// The integer a script returned, or a `backendError` naming the script.
    func integer(_ reply: RESPValue, from script: RedisScript) throws(ToozError) -> Int64 {
        guard case .integer(let value) = reply else {
            throw ToozError(.backendError, "\(client.target) returned an unexpected reply to script \(script.name)")
        }
        return value
    }

    func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    func rememberBeating(_ member: MemberID) {
        beatState.withLock { $0 = member }
    }

    func beatingMember() -> MemberID? { beatState.withLock { $0 } }
}
