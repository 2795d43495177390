import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import ToozBackends
import ToozServerTestSupport
import ToozTestKit

@testable import ToozEtcd

/// The etcd3+http:// backend against its own throwaway etcd: the transport under steady load,
/// what tooz gets wrong (a stale holder deleting the next holder's key), a lease that the
/// server ends, watches that wake, and peers that are not etcd.
@Suite(
    "etcd backend against a server",
    .enabled(if: EtcdTestServer.testsEnabled, "etcd is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct EtcdBackendServerTests {
    private static let logger = Logger(label: "test.etcd")

    private static func backend(_ url: String) throws -> EtcdBackend {
        let (backend, _) = try EtcdBackends.make(BackendURL(url), logger: logger)
        return backend as! EtcdBackend
    }

    private static func client(_ server: EtcdTestServer) -> EtcdClient {
        EtcdClient(configuration: EtcdClientConfiguration(endpoints: [.init(host: "127.0.0.1", port: server.port)]), logger: logger)
    }

    /// etcd's server PINGs with nearly every response; NIO's default limit would have us hang
    /// up after about 200 calls.
    /// 1,000 calls by default, five times the ~200 after which NIO's default limit hung up;
    /// `TOOZ_ETCD_CALLS=10000` for the full proof (run by hand: it loads the machine the rest of
    /// the suite shares).
    @Test func thousandsOfSequentialCallsOnOneConnection() async throws {
        let calls = Int(ProcessInfo.processInfo.environment["TOOZ_ETCD_CALLS"] ?? "") ?? 1_000
        try await EtcdTestServer.withServer { server in
            let client = Self.client(server)
            try await client.connect()
            var put = Etcdserverpb_PutRequest()
            put.key = Data("k".utf8)
            put.value = Data("v".utf8)
            let revision = try await client.put(put).header.revision
            // Reads: every answer carries data (and etcd's PING), without a disk write each, so
            // that the test does not load the machine the rest of the suite runs on.
            let read = EtcdOperations.rangeRequest(Array("k".utf8))
            for _ in 0..<calls {
                let response = try await client.range(read)
                #expect(response.kvs.first?.modRevision == revision)
            }
            await client.close()
        }
    }

    @Test func aLockCycleHasGrowingLinearizableTokensAndAStaleGrantCannotReleaseTheNextHolder() async throws {
        try await EtcdTestServer.withServer { server in
            let url = "etcd3+http://127.0.0.1:\(server.port)"
            let a = try Self.backend(url)
            let b = try Self.backend(url)
            try await a.connect()
            try await b.connect()
            let key = LockKey.lock("stale")
            let grantA = try #require(try await a.tryAcquire(key, owner: LockOwner(member: "a"), ttl: .seconds(30)))
            #expect(grantA.fencingToken.strength == .linearizable)
            #expect(try await b.tryAcquire(key, owner: LockOwner(member: "b"), ttl: .seconds(30)) == nil)
            #expect(try await b.holder(of: key) == "a")
            #expect(try await a.refresh(key, grant: grantA, ttl: .seconds(30)))

            // Someone breaks A's lock and B takes it: A's grant must neither refresh nor release it.
            #expect(try await b.breakLock(key))
            let grantB = try #require(try await b.tryAcquire(key, owner: LockOwner(member: "b"), ttl: .seconds(30)))
            #expect(grantB.fencingToken > grantA.fencingToken)
            #expect(try await a.refresh(key, grant: grantA, ttl: .seconds(30)) == false)
            #expect(try await a.release(key, grant: grantA) == false)
            #expect(try await a.holder(of: key) == "b")
            #expect(try await b.release(key, grant: grantB))
            #expect(try await a.holder(of: key) == nil)
            await a.disconnect()
            await b.disconnect()
        }
    }

    /// An earlier attempt's put was applied but its answer was lost: the next attempt of the same
    /// acquisition finds the key by its owner token and adopts it (a stranger's does not).
    @Test func aPutWhoseAnswerWasLostIsAdoptedByItsToken() async throws {
        try await EtcdTestServer.withServer { server in
            let backend = try Self.backend("etcd3+http://127.0.0.1:\(server.port)")
            try await backend.connect()
            let key = LockKey.lock("adopted")
            let owner = LockOwner(member: "m")
            let lease = try #require(backend.currentSession)
            var put = Etcdserverpb_PutRequest()
            put.key = Data(EtcdKeys.lock(key))
            put.value = Data(Array("m".utf8) + [0] + Array(owner.token.utf8))
            put.lease = lease.id
            let revision = try await backend.client.put(put).header.revision

            #expect(try await backend.tryAcquire(key, owner: LockOwner(member: "m"), ttl: .seconds(30)) == nil)
            let grant = try #require(try await backend.tryAcquire(key, owner: owner, ttl: .seconds(30)))
            #expect(grant.fencingToken.value == UInt64(revision))
            #expect(try await backend.holder(of: key) == "m")
            #expect(try await backend.release(key, grant: grant))
            await backend.disconnect()
        }
    }

    @Test func disconnectRevokesTheSessionLeaseSoLocksFreeAtOnce() async throws {
        try await EtcdTestServer.withServer { server in
            let url = "etcd3+http://127.0.0.1:\(server.port)"
            let a = try Self.backend(url)
            let b = try Self.backend(url)
            try await a.connect()
            try await b.connect()
            let key = LockKey.lock("revoked")
            _ = try #require(try await a.tryAcquire(key, owner: LockOwner(member: "a"), ttl: .seconds(30)))
            await a.disconnect()
            #expect(try await b.tryAcquire(key, owner: LockOwner(member: "b"), ttl: .seconds(30)) != nil)
            await b.disconnect()
        }
    }

    /// The server ends the lease (here: another client revokes it, as an expiry would): the
    /// refresh says the lock is gone, the coordinator hears that the session ended, and the next
    /// acquisition runs on a new lease.
    @Test func aLeaseTheServerEndedIsReportedAndReplaced() async throws {
        try await EtcdTestServer.withServer { server in
            let backend = try Self.backend("etcd3+http://127.0.0.1:\(server.port)")
            let signals = Mutex<[BackendSignal]>([])
            try await backend.connect(BackendContext(logger: Self.logger, clock: .continuous) { signal in signals.withLock { $0.append(signal) } })
            let key = LockKey.lock("expiring")
            let grant = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "m"), ttl: .seconds(30)))
            let lease = try #require(backend.currentSession)

            let other = Self.client(server)
            try await other.revokeLease(lease.id)
            #expect(try await backend.refresh(key, grant: grant, ttl: .seconds(30)) == false)
            _ = try await backend.heartbeat(member: "m", groups: [])
            #expect(signals.withLock { $0.contains(.sessionExpired) })

            let again = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "m"), ttl: .seconds(30)))
            #expect(again.handle(as: EtcdLockHandle.self)?.lease != lease.id)
            #expect(again.fencingToken > grant.fencingToken)
            await other.close()
            await backend.disconnect()
        }
    }

    @Test func aLockWatchWakesWhenTheKeyIsDeleted() async throws {
        try await EtcdTestServer.withServer { server in
            let url = "etcd3+http://127.0.0.1:\(server.port)"
            let a = try Self.backend(url)
            try await a.connect()
            let key = LockKey.lock("watched")
            let grant = try #require(try await a.tryAcquire(key, owner: LockOwner(member: "a"), ttl: .seconds(30)))
            let subscription = try #require(try await a.subscribe(to: .lock(key)))
            let seen = subscription.signal.generation
            #expect(try await a.release(key, grant: grant))
            try await withDeadline("the lock watch to signal") { try await subscription.signal.wait(since: seen) }
            subscription.cancel()
            await a.disconnect()
        }
    }

    @Test func groupsMembersAndCapabilitiesInToozsLayout() async throws {
        try await EtcdTestServer.withServer { server in
            let backend = try Self.backend("etcd3+http://127.0.0.1:\(server.port)")
            try await backend.connect()
            try await backend.createGroup("g1")
            await #expect(throws: ToozError.self) { try await backend.createGroup("g1") }
            try await backend.join("g1", member: "member-1", capabilities: .map([MessagePackMapEntry(.string("role"), .string("x"))]))
            // tooz's get_groups would list "g1/member-" here too.
            #expect(try await backend.groups() == ["g1"])
            #expect(try await backend.memberNames(of: "g1") == ["member-1"])
            let raw = Self.client(server)
            let stored = try await raw.range(EtcdOperations.rangeRequest(EtcdKeys.group("g1")))
            #expect(stored.kvs.first?.value == Data("tooz/groups/g1/".utf8))
            let member = try await raw.range(EtcdOperations.rangeRequest(EtcdKeys.member("member-1", of: "g1")))
            #expect(member.kvs.first?.lease == backend.currentSession?.id)
            do {
                try await backend.deleteGroup("g1")
                Issue.record("a group with a member was deleted")
            } catch let error as ToozError {
                #expect(error.code == .groupNotEmpty)
            }
            try await backend.leave("g1", member: "member-1")
            try await backend.deleteGroup("g1")
            #expect(try await backend.groups() == [])
            await raw.close()
            await backend.disconnect()
        }
    }

    @Test func peersThatAreNotEtcdFailClearly() async throws {
        // A memcached port speaks no HTTP/2 at all; a closed port refuses.
        try await MemcachedTestServer.withServer { memcached in
            let backend = try Self.backend("etcd3+http://127.0.0.1:\(memcached.port)?timeout=3")
            do {
                try await backend.connect()
                Issue.record("a memcached server was taken for etcd")
            } catch let error as ToozError {
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains("127.0.0.1:\(memcached.port)"), "\(error.message)")
            }
            await backend.disconnect()
        }
        let port = try ServerProcess.freePort()
        let closed = try Self.backend("etcd3+http://127.0.0.1:\(port)?timeout=3")
        await #expect(throws: ToozError.self) { try await closed.connect() }
        await closed.disconnect()
    }

    @Test func aWrongPasswordIsRefusedWithoutEchoingIt() async throws {
        try await EtcdTestServer.withServer { server in
            let backend = try Self.backend("etcd3+http://root:not-the-password@127.0.0.1:\(server.port)")
            do {
                try await backend.connect()
                Issue.record("connected with credentials to a cluster without auth")
            } catch let error as ToozError {
                #expect(error.code == .connectionFailed)
                #expect(!"\(error)".contains("not-the-password"))
            }
            await backend.disconnect()
        }
    }

    /// etcd with authentication on (turned on with etcdctl, as an operator would): the right
    /// password gets a token and works; a wrong one is refused at connect, without the password
    /// in the error.
    @Test(.enabled(if: ServerProcess.findExecutable("etcdctl") != nil, "etcdctl is not installed (Debian's etcd-client)"))
    func authenticationWithTheRightAndAWrongPassword() async throws {
        try await EtcdTestServer.withServer { server in
            let endpoint = "--endpoints=127.0.0.1:\(server.port)"
            for arguments in [["user", "add", "root:s3cret-pw"], ["auth", "enable"]] {
                let status = try ServerProcess.runToCompletion(
                    [try #require(ServerProcess.findExecutable("etcdctl")), endpoint] + arguments, output: server.directory + "/etcdctl.out"
                )
                #expect(status == 0, "etcdctl \(arguments.joined(separator: " ")) failed")
            }
            let good = try Self.backend("etcd3+http://root:s3cret-pw@127.0.0.1:\(server.port)")
            try await good.connect()
            let grant = try #require(try await good.tryAcquire(.lock("authed"), owner: LockOwner(member: "m"), ttl: .seconds(30)))
            #expect(try await good.release(.lock("authed"), grant: grant))
            await good.disconnect()

            let bad = try Self.backend("etcd3+http://root:wrong-pw@127.0.0.1:\(server.port)")
            do {
                try await bad.connect()
                Issue.record("a wrong password was accepted")
            } catch let error as ToozError {
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains("refused the credentials"), "\(error.message)")
                #expect(!"\(error)".contains("wrong-pw"))
            }
            await bad.disconnect()
        }
    }

    /// One connection for 20 s (`TOOZ_ETCD_SOAK_SECONDS=120` for the two-minute soak, run by
    /// hand): puts on a watched prefix every 50 ms and keepalives of one lease every second. Every put's event arrives, every keepalive is
    /// answered, and the connection is never replaced.
    @Test func aWatchAndKeepaliveSoakOnOneConnection() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["TOOZ_ETCD_SOAK_SECONDS"] ?? "") ?? 20
        try await EtcdTestServer.withServer { server in
            let client = Self.client(server)
            try await client.connect()
            let (lease, _) = try await client.grantLease(ttl: 30)
            let heard = Atomic<Int>(0)
            let lastRevision = Atomic<Int64>(0)
            let watch = try await client.watch(key: Array("soak/".utf8), rangeEnd: EtcdKeys.rangeEnd(ofPrefix: Array("soak/".utf8)), startRevision: 0) { news in
                if case .changed(let revision) = news {
                    heard.add(1, ordering: .relaxed)
                    lastRevision.store(revision, ordering: .relaxed)
                }
            }
            let connection = try await client.connection()
            let end = ContinuousClock.now + .seconds(seconds)
            var puts = 0
            var keepalives = 0
            var lastKeepalive = ContinuousClock.now
            var revision: Int64 = 0
            while ContinuousClock.now < end {
                // Paced: a soak of the connection, not a load test of the machine the rest of
                // the suite runs on.
                try await Task.sleep(for: .milliseconds(50))
                var put = Etcdserverpb_PutRequest()
                put.key = Data("soak/\(puts % 16)".utf8)
                put.value = Data(String(puts).utf8)
                revision = try await client.put(put).header.revision
                puts += 1
                // A keepalive every second, however slow the puts are on a loaded machine.
                if ContinuousClock.now - lastKeepalive >= .seconds(1) {
                    lastKeepalive = ContinuousClock.now
                    #expect(try await client.keepAlive(lease) > 0)
                    keepalives += 1
                }
            }
            let finalRevision = revision
            try await eventually("the watch to hear the last put") { lastRevision.load(ordering: .relaxed) >= finalRevision }
            #expect(try await client.connection() === connection, "the connection was replaced during the soak")
            #expect(heard.load(ordering: .relaxed) >= 1)
            #expect(keepalives >= min(seconds - 1, puts) / 2, "\(keepalives) keepalives in \(seconds) s")
            watch.cancel()
            await client.close()
        }
    }

    /// etcd3+https:// against a TLS etcd that requires client certificates: with the CA and a
    /// client certificate the backend works; without the certificate, or trusting another CA,
    /// the connect fails clearly.
    @Test(.enabled(if: ServerProcess.findExecutable("openssl") != nil, "openssl is not installed"))
    func tlsWithClientCertificates() async throws {
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-etcd-tls")
        defer { ServerProcess.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        let other = directory + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let stranger = try RedisTestServer.makeCertificates(in: other)
        let tls = EtcdTestServer.TLS(certificatePath: files.serverCertificatePath, keyPath: files.serverKeyPath, clientCAPath: files.caCertificatePath)
        try await EtcdTestServer.withServer(tls: tls) { server in
            let base = "etcd3+https://127.0.0.1:\(server.port)?timeout=5&ca_cert=\(files.caCertificatePath)"
            let good = try Self.backend(base + "&cert_cert=\(files.clientCertificatePath)&cert_key=\(files.clientKeyPath)")
            try await eventually("the TLS etcd to answer", toleratingErrors: true) {
                try await good.connect()
                return true
            }
            let grant = try #require(try await good.tryAcquire(.lock("tls"), owner: LockOwner(member: "m"), ttl: .seconds(30)))
            #expect(try await good.release(.lock("tls"), grant: grant))
            await good.disconnect()

            for url in [base, "etcd3+https://127.0.0.1:\(server.port)?timeout=5&ca_cert=\(stranger.caCertificatePath)&cert_cert=\(files.clientCertificatePath)&cert_key=\(files.clientKeyPath)"] {
                let refused = try Self.backend(url)
                do {
                    try await refused.connect()
                    Issue.record("\(url) connected")
                } catch let error as ToozError {
                    #expect(error.code == .connectionFailed, "\(error)")
                }
                await refused.disconnect()
            }
        }
    }
}
