import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// The `memcached://` backend: tooz 9.1.0's memcached layout (see ``MemcachedKeys``), so that
/// Python tooz members and Swift members on one server see and exclude each other, spoken in
/// memcached's meta protocol.
///
/// What it does better than tooz: a lock grant remembers the item's CAS, so a refresh and a
/// release compare it in the same request and can never extend or delete another holder's
/// lock (tooz releases with a `get` and a `delete`); an acquisition and its fencing counter
/// are one round trip; member liveness checks are pipelined. memcached cannot push, so
/// waiters and event streams poll; a release by this process wakes its own waiters at once.
/// A server restart or eviction loses items: leases and memberships then end, and the
/// coordinator's policy decides what to re-join.
public final class MemcachedBackend: CoordinationBackend {
    let client: MemcachedClient
    let configuration: MemcachedConfiguration
    let membershipTTL: Duration
    /// The member whose liveness key this backend keeps, deleted on disconnect as tooz's
    /// `stop()` does, and never pruned from a group by our own reads.
    private let beatState = Mutex<MemberID?>(nil)
    public let info: BackendInfo

    /// The event loop the connection lives on, as a task executor: the coordinator's work runs
    /// there, next to the I/O.
    public let taskExecutor: (any TaskExecutor)?

    /// Releases by this process, by server and lock key: they wake this process's waiters.
    static let releases = KeyedSignals<String>()

    package init(
        configuration: MemcachedConfiguration, membershipTTL: Duration, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        let eventLoop = eventLoopGroup.next()
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.client = MemcachedClient(configuration: configuration.connection, eventLoopGroup: eventLoop, logger: logger)
        self.configuration = configuration
        self.membershipTTL = membershipTTL
        self.info = Self.info(maximumItemSize: configuration.maximumItemSize)
    }

    private static func info(maximumItemSize: Int) -> BackendInfo {
        // memcached's keys are at most 250 bytes with no whitespace or control bytes (the
        // protocol is line-based); names are checked up front instead of being truncated.
        var forbidden: Set<Character> = ["\r\n"]
        for value in UInt8(0)...0x20 { forbidden.insert(Character(Unicode.Scalar(value))) }
        forbidden.insert(Character(Unicode.Scalar(UInt8(0x7F))))
        return BackendInfo(
            name: "memcached",
            features: .all,
            fencing: .bestEffort,
            eventDelivery: .polled,
            leaseKind: .ttl,
            characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .causal],
            nameRules: NameRules(
                maximumLength: MemcachedKeys.longestName,
                forbiddenCharacters: forbidden,
                // `_TOOZ_GROUP_LIST` is tooz's list of groups; a lock named after a leader key
                // would be that group's leadership.
                reserved: [.group: ["LIST"]],
                reservedPrefixes: [.lock: [MemcachedKeys.leaderPrefix]]
            ),
            // Room for the member id and the record around one member's capabilities; the
            // whole group must fit one item too, which each write checks.
            maximumCapabilitiesSize: maximumItemSize - 1024
        )
    }

    // MARK: Lifecycle

    public func connect(_ context: BackendContext) async throws {
        client.use(logger: context.logger)
        client.onConnectionClosed { context.report(.connectionInterrupted) }
        try await client.connect()
    }

    public func disconnect() async {
        // tooz's stop() deletes the liveness key, so peers see us gone at once, not after the TTL.
        if let member = beatingMember() {
            _ = try? await client.send(MemcachedRequest.delete(MemcachedKeys.member(member)))
        }
        await client.close()
    }

    public func ping() async throws {
        let reply = try await client.send(MemcachedRequest.noop)
        guard reply.status == .noop else {
            throw ToozError(.backendError, "\(client.target) answered mn with something other than MN")
        }
    }

    // MARK: Shared helpers

    func rememberBeating(_ member: MemberID) {
        beatState.withLock { $0 = member }
    }

    func beatingMember() -> MemberID? { beatState.withLock { $0 } }

    /// tooz's liveness beat: `set _TOOZ_MEMBER_<m> "It's alive!"` for the membership TTL,
    /// plus the second memcached's coarse clock may take off, so that the membership lease the
    /// coordinator counts from the beat is never longer than the key's life.
    func beatRequest(_ member: MemberID) throws -> MemcachedRequest {
        try MemcachedRequest.set(
            MemcachedKeys.member(member), value: MemcachedKeys.aliveValue, clientFlags: MemcachedKeys.Flags.bytes,
            ttl: MemcachedTTL.secondsCovering(membershipTTL), returnCAS: false
        )
    }

    /// A reply that none of the expected statuses explains.
    func unexpected(_ reply: MemcachedResponse, to what: String) -> ToozError {
        ToozError(.backendError, "\(client.target) answered \(what) with \(reply.status)")
    }
}
