import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// The `etcd3+http://` backend: tooz 9.1.0's etcd3gw layout (see ``EtcdKeys``), so that Python
/// tooz members and Swift members on one cluster see each other's groups and exclude each
/// other's locks, spoken in etcd's native gRPC API.
///
/// What it does better than tooz: one session lease per coordinator carries its member keys and
/// locks (a lock cycle is two Raft writes, not three), kept alive over one keepalive stream;
/// fencing tokens are the lock key's create revision (linearizable); leader election exists;
/// waiters and event streams are woken by watches instead of polling; stopping revokes the
/// lease, so locks free at once.
public final class EtcdBackend: CoordinationBackend {
    let client: EtcdClient
    let configuration: EtcdConfiguration
    let watches = EtcdWatchRegistry()
    private let session = EtcdLazy<EtcdSessionLease>()
    /// The session lease, if one is granted.
    var currentSession: EtcdSessionLease? { session.current }
    private let context = Mutex<BackendContext?>(nil)
    public let info: BackendInfo
    public let taskExecutor: (any TaskExecutor)?

    package init(configuration: EtcdConfiguration, logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        let client = EtcdClient(configuration: configuration.client, eventLoopGroup: eventLoopGroup, logger: logger)
        self.client = client
        self.configuration = configuration
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: client.eventLoop)
        self.info = BackendInfo(
            name: "etcd",
            features: .all,
            fencing: .linearizable,
            eventDelivery: .pushed,
            leaseKind: .ttl,
            characteristics: [
                .distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .linearizable, .serializable,
            ],
            // etcd takes any bytes in a key; NUL is refused by the core for every backend.
            nameRules: NameRules(maximumLength: 1024),
            // etcd refuses requests over 1.5 MiB by default: room for the key and the envelope.
            maximumCapabilitiesSize: 1 << 20
        )
    }

    // MARK: Lifecycle

    public func connect(_ context: BackendContext) async throws {
        self.context.withLock { $0 = context }
        let watches = self.watches
        let connections = Atomic<Int>(0)
        var hooks = EtcdClient.Hooks()
        hooks.connected = { connection in
            await watches.reattach(on: connection)
            if connections.add(1, ordering: .relaxed).newValue > 1 { context.report(.connectionRestored) }
        }
        hooks.disconnected = { context.report(.connectionInterrupted) }
        client.setHooks(hooks)
        try await client.connect()
        _ = try await sessionLease()
    }

    public func disconnect() async {
        // tooz leaves the lease to expire, and with it every lock it held for up to a TTL;
        // revoking it frees them now.
        if let lease = session.current {
            try? await client.revokeLease(lease.id)
        }
        await client.close()
    }

    public func ping() async throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("tooz/ping".utf8)
        request.countOnly = true
        _ = try await client.range(request)
    }

    // MARK: Session lease

    var clock: any ToozClock { context.withLock { $0?.clock } ?? ContinuousToozClock() }

    /// The session lease, granted on first use and again after it expired; kept alive first
    /// when its last proof is older than a third of its TTL, so keys put on it now live long.
    func sessionLease() async throws -> EtcdSessionLease {
        let clock = self.clock
        let lease = try await session.value {
            let sentAt = clock.now()
            let (id, ttl) = try await client.grantLease(ttl: configuration.sessionTTL.components.seconds)
            context.withLock { $0 }?.logger.debug("etcd session lease granted", metadata: ["etcd.lease": "\(id)", "etcd.ttl": "\(ttl)"])
            return EtcdSessionLease(id: id, ttl: .seconds(ttl), provenAt: sentAt)
        }
        if clock.now() - lease.provenAt > lease.ttl / 3 {
            guard try await keepAlive(lease) else { return try await sessionLease() }
        }
        return lease
    }

    /// Keeps `lease` alive once. `false` when it is gone: then every key on it is gone, the
    /// coordinator is told the session ended, and the next use grants a new lease.
    func keepAlive(_ lease: EtcdSessionLease) async throws -> Bool {
        let sentAt = clock.now()
        let ttl = try await client.keepAlive(lease.id)
        if ttl > 0 {
            lease.proven(at: sentAt)
            return true
        }
        leaseEnded(lease)
        return false
    }

    /// `lease` expired on the server (a keepalive answered TTL 0, or a put named an unknown lease).
    func leaseEnded(_ lease: EtcdSessionLease) {
        var wasCurrent = false
        session.reset { current in
            wasCurrent = current === lease
            return wasCurrent
        }
        if wasCurrent {
            context.withLock { $0 }?.logger.info("etcd session lease expired on the server", metadata: ["etcd.lease": "\(lease.id)"])
            context.withLock { $0 }?.report(.sessionExpired)
        }
    }

    /// Runs `body` with the session lease; when etcd says the lease is gone (a put on an expired
    /// lease), ends it and runs `body` once more with a new one.
    func withSessionLease<Result>(_ body: (EtcdSessionLease) async throws -> Result) async throws -> Result {
        let lease = try await sessionLease()
        do {
            return try await body(lease)
        } catch let error as ToozError where Self.isLeaseNotFound(error) {
            leaseEnded(lease)
            return try await body(try await sessionLease())
        }
    }

    static func isLeaseNotFound(_ error: ToozError) -> Bool {
        guard let status = error.underlying as? GRPCStatus else { return false }
        return status.code == .notFound && status.message.contains("lease not found")
    }

    // MARK: Changes

    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? {
        let ranges: [EtcdWatchRegistry.Range]
        switch topic {
        case .group(let group):
            let placeholder = EtcdKeys.group(group)
            ranges = [
                .init(key: placeholder, rangeEnd: EtcdKeys.rangeEnd(ofPrefix: placeholder)),
                .init(key: EtcdKeys.lock(.leadership(group)), rangeEnd: nil),
            ]
        case .lock(let key):
            ranges = [.init(key: EtcdKeys.lock(key), rangeEnd: nil)]
        }
        let connection = try? await client.connectionHandle()
        let signal = await watches.retain(topic, ranges: ranges, connection: connection)
        let watches = self.watches
        return ChangeSubscription(signal: signal) { watches.release(topic) }
    }
}

extension EtcdClient {
    /// The live connection, for starting watches on it.
    func connectionHandle() async throws -> EtcdConnectionHandle {
        EtcdConnectionHandle(connection: try await connection())
    }
}
