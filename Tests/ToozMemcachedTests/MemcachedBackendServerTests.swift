import Logging
import Synchronization
import NIOPosix
import Testing
import ToozBackends
import ToozServerTestSupport
import ToozTestKit

@testable import ToozMemcached

/// The memcached:// backend against its own throwaway memcached: what tooz gets wrong (a stale
/// holder deleting or extending the next holder's lock), a server that forgets everything,
/// names and records that do not fit, and contention on one group record.
@Suite(
    "memcached backend against a server",
    .enabled(if: MemcachedTestServer.testsEnabled, "memcached is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct MemcachedBackendServerTests {
    private static let logger = Logger(label: "test.memcached")

    private static func url(_ server: MemcachedTestServer, _ options: String = "") -> String {
        "memcached://127.0.0.1:\(server.port)" + (options.isEmpty ? "" : "?" + options)
    }

    private static func backend(_ server: MemcachedTestServer, _ options: String = "") throws -> MemcachedBackend {
        let (backend, _) = try MemcachedBackends.make(BackendURL(url(server, options)), logger: logger)
        return backend as! MemcachedBackend
    }

    private static func raw(_ server: MemcachedTestServer) async throws -> MemcachedClient {
        let client = MemcachedClient(
            configuration: MemcachedConnectionConfiguration(host: "127.0.0.1", port: server.port), logger: logger
        )
        try await client.connect()
        return client
    }

    @Test func aStaleHolderCanNeitherReleaseNorExtendTheNextHoldersLock() async throws {
        try await MemcachedTestServer.withServer { server in
            let a = try Self.backend(server)
            let b = try Self.backend(server)
            let raw = try await Self.raw(server)
            try await a.connect()
            try await b.connect()
            let key = LockKey.lock("stale")
            let grantA = try #require(try await a.tryAcquire(key, owner: LockOwner(member: "same"), ttl: .seconds(30)))
            // A's item ends (as if its TTL ran out) and B, under the same member id, takes the lock:
            // tooz's value comparison could not tell them apart.
            #expect(try await raw.send(MemcachedRequest.delete(MemcachedKeys.lock(key))).status == .stored)
            let grantB = try #require(try await b.tryAcquire(key, owner: LockOwner(member: "same"), ttl: .seconds(30)))
            #expect(grantB.fencingToken > grantA.fencingToken)

            #expect(try await a.refresh(key, grant: grantA, ttl: .seconds(300)) == false)
            #expect(try await a.release(key, grant: grantA) == false)
            let item = try await raw.send(MemcachedRequest.get(MemcachedKeys.lock(key), ttl: true))
            #expect(item.status == .value)
            #expect(item.ttl.map { $0 <= 30 } == true, "A's refresh must not extend B's item: \(item)")

            // B's own refresh and release work, and its grant follows the new CAS.
            #expect(try await b.refresh(key, grant: grantB, ttl: .seconds(30)))
            #expect(try await b.release(key, grant: grantB))
            #expect(try await b.holder(of: key) == nil)
            await raw.close()
            await a.disconnect()
            await b.disconnect()
        }
    }

    @Test func aRefreshAndAReleaseOfOneGrantTakeTurns() async throws {
        try await MemcachedTestServer.withServer { server in
            let backend = try Self.backend(server)
            try await backend.connect()
            for round in 0..<50 {
                let key = LockKey.lock(LockName("turns-\(round)"))
                let grant = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "m"), ttl: .seconds(30)))
                async let refreshed = backend.refresh(key, grant: grant, ttl: .seconds(30))
                async let released = backend.release(key, grant: grant)
                let (refresh, release) = try await (refreshed, released)
                // Whichever ran first, the release found the CAS the grant had then.
                #expect(release, "round \(round): refresh \(refresh), release failed")
                #expect(try await backend.holder(of: key) == nil)
            }
            await backend.disconnect()
        }
    }

    @Test func aRestartedServerHasForgottenEverythingAndTheCoordinatorSaysSo() async throws {
        try await MemcachedTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server, "timeout=6"), member: "survivor")
            try await coordinator.withRunning {
                let group = GroupID("restart")
                try await coordinator.createGroup(group)
                try await coordinator.join(group)
                let lease = try #require(try await coordinator.lock(named: "restart").tryAcquire())
                let before = lease.fencingToken
                try await server.restart()
                try await eventually("the lease to be lost") {
                    if case .lost = lease.state { return true }
                    return false
                }
                // The group is gone with the rest: the membership ends instead of re-joining nothing.
                try await eventually("the membership to end") {
                    coordinator.membershipState(in: group) == .left
                }
                let lock = try coordinator.lock(named: "restart")
                try await eventually("an acquisition after the restart", toleratingErrors: true) {
                    try await lock.tryAcquire() != nil
                }
                let again = try #require(lock.lease)
                // The counter was lost too; it starts again from the clock, above the old tokens.
                #expect(again.fencingToken > before)
                #expect(try await again.release())
            }
        }
    }

    @Test func aGroupThatWouldNotFitOneItemIsRefusedAndNothingIsWritten() async throws {
        try await MemcachedTestServer.withServer { server in
            let url = Self.url(server, "item_size_max=4096")
            let group = GroupID("big")
            let blob = Capabilities.binary(Array(repeating: 0x61, count: 1500))
            let first = try Coordinator(url: url, member: "m1")
            let second = try Coordinator(url: url, member: "m2")
            let third = try Coordinator(url: url, member: "m3")
            try await first.withRunning {
                try await second.withRunning {
                    try await third.withRunning {
                        try await first.createGroup(group)
                        try await first.join(group, capabilities: blob)
                        try await second.join(group, capabilities: blob)
                        await #expect {
                            try await third.join(group, capabilities: blob)
                        } throws: { error in
                            let error = error as! ToozError
                            return error.code == .invalidArgument && error.message.contains("item_size_max")
                        }
                        #expect(try await first.members(of: group) == ["m1", "m2"])
                    }
                }
            }
        }
    }

    @Test func namesMemcachedCannotStoreAreRefusedBeforeAnyIO() throws {
        // No server: validation must not need one.
        let coordinator = try Coordinator(url: "memcached://127.0.0.1:1", member: "m")
        for bad in ["a b", "tab\there", "new\nline", String(repeating: "x", count: 201), "_TOOZ_GROUP_LEADER_g", "del\u{7F}"] {
            #expect(throws: ToozError.self, "\(bad.debugDescription)") { _ = try coordinator.lock(named: LockName(bad)) }
        }
        #expect(throws: ToozError.self) { try Coordinator(url: "memcached://127.0.0.1:1", member: "a b") }
        #expect(throws: ToozError.self) { try Coordinator(url: "memcached://127.0.0.1:1", member: MemberID(String(repeating: "m", count: 201))) }
        _ = try coordinator.lock(named: LockName(String(repeating: "x", count: 200)))
        _ = try coordinator.lock(named: "caf\u{E9}")
    }

    @Test func theGroupListIsNotAGroup() async throws {
        try await MemcachedTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server), member: "m")
            _ = try await coordinator.withRunning {
                await #expect {
                    try await coordinator.createGroup("LIST")
                } throws: { error in
                    (error as! ToozError).code == .invalidArgument
                }
            }
        }
    }

    @Test func concurrentJoinsAndLeavesOfOneGroupAllLand() async throws {
        try await MemcachedTestServer.withServer { server in
            let url = Self.url(server)
            let group = GroupID("crowd")
            let coordinators = try (0..<12).map { try Coordinator(url: url, member: MemberID("m\($0)")) }
            let observer = try Coordinator(url: url, member: "observer")
            let seenAll = SharedCount()
            try await observer.withRunning {
                try await observer.createGroup(group)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for coordinator in coordinators {
                        tasks.addTask {
                            try await coordinator.withRunning {
                                try await coordinator.join(group, capabilities: .string(coordinator.member.rawValue))
                                try await eventually("all twelve to be in") {
                                    try await coordinator.members(of: group).count == 12
                                }
                                // Nobody stops (which deletes its liveness key) before everyone saw all twelve.
                                seenAll.add()
                                try await eventually("everyone to have seen all twelve") { seenAll.value == 12 }
                                if coordinator.member.rawValue.hasSuffix("1") { try await coordinator.leave(group) }
                            }
                        }
                    }
                    try await tasks.waitForAll()
                }
                let expected: Set<MemberID> = Set((0..<12).filter { $0 != 1 && $0 != 11 }.map { MemberID("m\($0)") })
                // The others stopped (and deleted their liveness keys), so their records are pruned.
                let seen = try await observer.membersWithCapabilities(of: group)
                #expect(Set(seen.keys).isSubset(of: expected))
            }
        }
    }

    @Test func tlsOptionsOfTheURLReachTheServer() async throws {
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-mc-url-tls")
        defer { ServerProcess.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        let tls = try MemcachedConnectionServerTests.makeNameOnlyCertificate(in: directory)
        try await MemcachedTestServer.withServer(tls: tls) { server in
            let base = "memcached://localhost:\(server.port)?use_ssl=true&ssl_check_hostname=true"
            let coordinator = try Coordinator(url: base + "&ca_cert=\(files.caCertificatePath)", member: "tls")
            try await coordinator.withRunning {
                let lease = try #require(try await coordinator.lock(named: "secure").tryAcquire())
                #expect(try await coordinator.lock(named: "secure").holder() == "tls")
                #expect(try await lease.release())
            }
            // Without the CA the server's certificate is not trusted: a clear connection error.
            let untrusted = try Coordinator(url: base, member: "untrusted")
            await #expect {
                try await untrusted.withRunning {}
            } throws: { error in
                (error as? ToozError)?.code == .connectionFailed
            }
        }
    }

    @Test func aPythonStyleHolderIsNamedAndExcludesUs() async throws {
        try await MemcachedTestServer.withServer { server in
            let raw = try await Self.raw(server)
            // What tooz's MemcachedLock.acquire writes: add(__TOOZ_LOCK_<name>, member id, flags 1).
            let added = try await raw.send(
                MemcachedRequest.set("__TOOZ_LOCK_shared", value: Array("py-1".utf8), clientFlags: 1, ttl: 30, mode: .add)
            )
            #expect(added.status == .stored)
            let coordinator = try Coordinator(url: Self.url(server), member: "swift-1")
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: "shared")
                #expect(try await lock.holder() == "py-1")
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await raw.send(MemcachedRequest.delete("__TOOZ_LOCK_shared")).status == .stored)
                let lease = try #require(try await lock.tryAcquire())
                let item = try await raw.send(MemcachedRequest.get("__TOOZ_LOCK_shared"))
                #expect(item.value == Array("swift-1".utf8))
                #expect(item.clientFlags == 1)
                #expect(try await lease.release())
            }
            await raw.close()
        }
    }
}

/// A count that concurrent tasks share.
private final class SharedCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
