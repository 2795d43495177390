import Foundation
import Logging
import NIOPosix
import Synchronization
import Testing
import ToozBackends
import ToozServerTestSupport
import ToozTestKit

@testable import ToozMySQL

/// The mysql:// backend against a real MariaDB: what the server enforces (user locks that end
/// with their connection, waits that block in the server, a restart that ends every session),
/// durable fencing, and bad input. Most tests share the server scripts/test started
/// (`TOOZ_TEST_MYSQL_URL`) under tables and lock names of their own; those that restart or kill
/// a server run their own.
@Suite(
    "MySQL backend against a server",
    .enabled(if: MySQLServer.shouldRun, "TOOZ_TEST_MYSQL_URL is not set: run scripts/test"),
    .timeLimit(.minutes(3))
)
struct MySQLBackendServerTests {
    static let logger = Logger(label: "test.mysql")

    static func backend(_ url: String) throws -> MySQLBackend {
        let (backend, _) = try MySQLBackends.make(BackendURL(url), logger: logger)
        return backend as! MySQLBackend
    }

    static func connectError(_ url: String) async throws -> ToozError {
        let backend = try backend(url)
        do {
            try await backend.connect()
        } catch let error as ToozError {
            await backend.disconnect()
            return error
        }
        await backend.disconnect()
        Issue.record("connecting to \(url) succeeded")
        return ToozError(.backendError, "no error")
    }

    @Test func aLockWhoseConnectionIsKilledIsReportedLostAndTheNextHolderGetsAHigherToken() async throws {
        let url = try MySQLServer.url()
        let holder = try Self.backend(url)
        let other = try Self.backend(url)
        let lost = Mutex<[BackendSignal]>([])
        try await holder.connect(BackendContext(logger: Self.logger, clock: .continuous) { signal in lost.withLock { $0.append(signal) } })
        try await other.connect()
        let key = LockKey.lock(LockName(MySQLServer.uniqueName("killed")))
        let owner = LockOwner(member: "holder")
        let grant = try #require(try await holder.tryAcquire(key, owner: owner, ttl: .seconds(30)))
        #expect(grant.fencingToken.strength == .durable)
        #expect(try await other.tryAcquire(key, owner: LockOwner(member: "other"), ttl: .seconds(30)) == nil)
        #expect(try await other.holder(of: key) == "holder")
        // tooz's break_: KILL CONNECTION of the holder's session, what a network failure does.
        #expect(try await other.breakLock(key))
        try await eventually("the grant to be reported lost") {
            lost.withLock { $0.contains(.grantLost(ownerToken: owner.token)) }
        }
        #expect(try await holder.refresh(key, grant: grant, ttl: .seconds(30)) == false)
        let next = try #require(try await other.tryAcquire(key, owner: LockOwner(member: "other"), ttl: .seconds(30)))
        #expect(next.fencingToken > grant.fencingToken)
        // The stale grant cannot release the new holder's lock: it is on another connection.
        #expect(try await holder.release(key, grant: grant) == false)
        #expect(try await other.holder(of: key) == "other")
        #expect(try await other.release(key, grant: next))
        #expect(try await other.breakLock(key) == false)
        await holder.disconnect()
        await other.disconnect()
    }

    @Test func aBlockingWaitIsHandedTheLockByTheServerAndAWaitWithADeadlineLeavesNothingBehind() async throws {
        let url = try MySQLServer.url()
        let holder = try Self.backend(url)
        let waiter = try Self.backend(url)
        try await holder.connect()
        try await waiter.connect()
        let name = MySQLServer.uniqueName("handed")
        let key = LockKey.lock(LockName(name))
        let grant = try #require(try await holder.tryAcquire(key, owner: LockOwner(member: "holder"), ttl: .seconds(30)))
        let clock = ContinuousToozClock()
        // A wait that times out in GET_LOCK returns nil and holds nothing.
        let short = AcquireRequest(
            key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: clock.now() + .milliseconds(200), clock: clock,
            pollInterval: .seconds(1)
        )
        #expect(try await waiter.acquire(short) == nil)
        #expect(try await MySQLServer.waiters(of: name) == 0)
        // A wait without deadline is granted when the holder releases.
        let forever = AcquireRequest(key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: nil, clock: clock, pollInterval: .seconds(3600))
        async let granted = waiter.acquire(forever)
        try await eventually("the waiter to wait on the server") { try await MySQLServer.waiters(of: name) == 1 }
        #expect(try await holder.release(key, grant: grant))
        let handed = try #require(try await granted)
        #expect(handed.fencingToken > grant.fencingToken)
        #expect(try await waiter.holder(of: key) == "waiter")
        #expect(try await waiter.release(key, grant: handed))
        await holder.disconnect()
        await waiter.disconnect()
    }

    @Test func aCancelledWaitEndsOnTheServer() async throws {
        let url = try MySQLServer.url()
        let holder = try Self.backend(url)
        let waiter = try Self.backend(url)
        try await holder.connect()
        try await waiter.connect()
        let name = MySQLServer.uniqueName("cancelled")
        let key = LockKey.lock(LockName(name))
        let grant = try #require(try await holder.tryAcquire(key, owner: LockOwner(member: "holder"), ttl: .seconds(30)))
        let clock = ContinuousToozClock()
        let request = AcquireRequest(key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: nil, clock: clock, pollInterval: .seconds(3600))
        let wait = Task { try await waiter.acquire(request) }
        try await eventually("the waiter to wait on the server") { try await MySQLServer.waiters(of: name) == 1 }
        wait.cancel()
        await #expect(throws: CancellationError.self) { try await wait.value }
        try await eventually("the server to forget the wait") { try await MySQLServer.waiters(of: name) == 0 }
        #expect(try await holder.release(key, grant: grant))
        // Nobody was handed it behind our back.
        #expect(try await holder.holder(of: key) == nil)
        await holder.disconnect()
        await waiter.disconnect()
    }

    @Test func namesAndCapabilitiesWithQuotesBackslashesAndNULsAreStoredAsTheyAre() async throws {
        let url = try MySQLServer.url("table_prefix=\(MySQLServer.uniqueTablePrefix())")
        let member = MemberID("o'brien\\\"; DROP TABLE tooz_groups; --")
        let coordinator = try Coordinator(url: url, member: member)
        try await coordinator.withRunning {
            let group = GroupID("g'roup\\\"; SELECT 1; --")
            try await coordinator.createGroup(group)
            let capabilities = Capabilities.binary([0, 0x27, 0x5C, 0x22, 0, 0xFF])
            try await coordinator.join(group, capabilities: capabilities)
            #expect(try await coordinator.members(of: group) == [member])
            #expect(try await coordinator.capabilities(of: member, in: group) == capabilities)
            try await coordinator.updateCapabilities(.string("x'y\\z\u{0}"), in: group)
            #expect(try await coordinator.capabilities(of: member, in: group) == .string("x'y\\z\u{0}"))
            #expect(try await coordinator.groups().contains(group))
            let name = LockName(MySQLServer.uniqueName("l'o\\ck\""))
            let lease = try #require(try await coordinator.lock(named: name).tryAcquire())
            #expect(try await coordinator.lock(named: name).holder() == member)
            #expect(try await lease.release())
            try await coordinator.leave(group)
            try await coordinator.deleteGroup(group)
            #expect(try await !coordinator.groups().contains(group))
        }
    }

    @Test func lockNamesLongerThanMySQLsLimitAreRefusedBeforeAnyIO() async throws {
        let coordinator = try Coordinator(url: try MySQLServer.url(), member: "long")
        try await coordinator.withRunning {
            let error = #expect(throws: ToozError.self) { try coordinator.lock(named: LockName(String(repeating: "n", count: 65))) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("at most 64") == true, "\(error?.message ?? "")")
            let reserved = #expect(throws: ToozError.self) { try coordinator.lock(named: "tooz:session:1") }
            #expect(reserved?.code == .invalidArgument)
            // 64 bytes is fine, and a long group's leadership is a short digest.
            let lease = try #require(try await coordinator.lock(named: LockName(String(repeating: "n", count: 56) + MySQLServer.uniqueName("").suffix(8))).tryAcquire())
            #expect(try await lease.release())
        }
    }

    @Test func aWrongPasswordAndAnUnknownDatabaseAreClearErrorsWithoutThePassword() async throws {
        let parsed = try BackendURL(try MySQLServer.url())
        let place = "\(parsed.host ?? "127.0.0.1"):\(parsed.port ?? 3306)"
        let wrong = try await Self.connectError("mysql://tooz:not-the-password@\(place)/tooz")
        #expect(wrong.code == .connectionFailed)
        #expect(wrong.message.contains("1045"), "\(wrong.message)")
        #expect(!wrong.message.contains("not-the-password"))
        #expect(!"\(wrong)".contains("not-the-password"))

        let unknown = try await Self.connectError("mysql://tooz:\(parsed.password ?? "")@\(place)/nowhere_\(UInt32.random(in: 0...UInt32.max))")
        #expect(unknown.code == .connectionFailed)
        #expect(unknown.message.contains("1049"), "\(unknown.message)")
        if let password = parsed.password { #expect(!unknown.message.contains(password)) }
    }

    @Test func aServerThatIsNotMySQLIsAClearError() async throws {
        let garbage = try await GarbageServer.start(reply: "HTTP/1.1 400 Bad Request\r\n\r\n")
        let error = try await Self.connectError("mysql://tooz:secret@127.0.0.1:\(garbage.port)/tooz?timeout=5")
        #expect(error.code == .connectionFailed)
        #expect(!error.message.contains("secret"))
        try await garbage.close()
    }

    @Test func theUnixSocketReachesTheSameServer() async throws {
        let socket = try #require(MySQLServer.socket, "TOOZ_TEST_MYSQL_SOCKET is not set")
        let parsed = try BackendURL(try MySQLServer.url())
        let url = "mysql://\(parsed.user ?? "tooz"):\(parsed.password ?? "")@localhost/\(parsed.path.dropFirst())?unix_socket=\(socket)"
        let overSocket = try Self.backend(url)
        let overTCP = try Self.backend(try MySQLServer.url())
        try await overSocket.connect()
        try await overTCP.connect()
        let key = LockKey.lock(LockName(MySQLServer.uniqueName("socket")))
        let grant = try #require(try await overSocket.tryAcquire(key, owner: LockOwner(member: "socket"), ttl: .seconds(30)))
        #expect(try await overTCP.tryAcquire(key, owner: LockOwner(member: "tcp"), ttl: .seconds(30)) == nil)
        #expect(try await overTCP.holder(of: key) == "socket")
        #expect(try await overSocket.release(key, grant: grant))
        await overSocket.disconnect()
        await overTCP.disconnect()
    }

    @Test func tlsWithTheServersCAConnectsAndVerifies() async throws {
        let ca = try #require(MySQLServer.certificateAuthority, "TOOZ_TEST_MYSQL_CA is not set")
        let backend = try Self.backend(try MySQLServer.url("ssl_ca=\(ca)"))
        try await backend.connect()
        let key = LockKey.lock(LockName(MySQLServer.uniqueName("tls")))
        let grant = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "tls"), ttl: .seconds(30)))
        #expect(try await backend.release(key, grant: grant))
        await backend.disconnect()
    }
}

/// The server tests' own servers: a restart and a server killed mid-wait.
@Suite(
    "MySQL backend against a server of its own",
    .enabled(if: MySQLTestServer.testsEnabled, "MariaDB is not installed (scripts/test installs it)"),
    // One server at a time: each install and start is seconds of CPU.
    .serialized,
    .timeLimit(.minutes(3))
)
struct MySQLOwnServerTests {
    @Test func aRestartEndsEveryLockAtOnceAndMembersJoinAgain() async throws {
        try await MySQLTestServer.withServer { server in
            // A patient timeout: under a loaded CI the first statements after a restart took seconds.
            let coordinator = try Coordinator(url: server.url + "?timeout=30&poll_interval=0.2", member: "survivor")
            try await coordinator.withRunning {
                let group = GroupID("restart")
                try await coordinator.createGroup(group)
                try await coordinator.join(group)
                let lease = try #require(try await coordinator.lock(named: "restart").tryAcquire())
                let before = lease.fencingToken
                #expect(before.strength == .durable)
                try await server.restart()
                // The lock's connection ended with the server: reported at once, not at the TTL (30 s).
                try await eventually("the lease to be lost") {
                    if case .lost = lease.state { return true }
                    return false
                }
                // The group is durable; our row named a session that ended, so we join again.
                try await eventually("the member to be back in the group", toleratingErrors: true) {
                    try await coordinator.members(of: group) == ["survivor"]
                }
                let lock = try coordinator.lock(named: "restart")
                try await eventually("an acquisition after the restart", toleratingErrors: true) {
                    try await lock.tryAcquire() != nil
                }
                let again = try #require(lock.lease)
                #expect(again.fencingToken > before, "the fencing sequence is durable across a crash")
                #expect(try await again.release())
            }
        }
    }

    @Test func aServerKilledDuringAWaitIsAClearConnectionError() async throws {
        try await MySQLTestServer.withServer { server in
            let holder = try MySQLBackendServerTests.backend(server.url)
            let waiter = try MySQLBackendServerTests.backend(server.url + "?timeout=30")
            try await holder.connect()
            try await waiter.connect()
            let key = LockKey.lock("gone")
            _ = try #require(try await holder.tryAcquire(key, owner: LockOwner(member: "holder"), ttl: .seconds(30)))
            let clock = ContinuousToozClock()
            let request = AcquireRequest(
                key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: clock.now() + .seconds(120), clock: clock,
                pollInterval: .seconds(3600)
            )
            async let waited = waiter.acquire(request)
            try await eventually("the waiter to wait on the server") {
                (try? server.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE state = 'User lock'")) == "1"
            }
            await server.stop()
            do {
                let grant = try await waited
                Issue.record("the wait returned \(String(describing: grant)) from a killed server")
            } catch let error as ToozError {
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains("lost"), "\(error.message)")
                #expect(!error.message.contains("tooz-secret"))
            }
            await holder.disconnect()
            await waiter.disconnect()
        }
    }
}

/// The server scripts/test started, and probes of it through a connection of our own.
enum MySQLServer {
    static let environment = ProcessInfo.processInfo.environment
    static let base: String? = environment["TOOZ_TEST_MYSQL_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let socket: String? = environment["TOOZ_TEST_MYSQL_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    static let certificateAuthority: String? = environment["TOOZ_TEST_MYSQL_CA"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = ["true", "1", "yes"].contains(environment["CI"]?.lowercased() ?? "")
    static let shouldRun = base != nil || isCI

    static func url(_ options: String = "") throws -> String {
        let base = try #require(base, "CI=true but TOOZ_TEST_MYSQL_URL is not set: scripts/test could not start MariaDB")
        return options.isEmpty ? base : base + (base.contains("?") ? "&" : "?") + options
    }

    static func uniqueName(_ base: String) -> String {
        "t-\(base)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func uniqueTablePrefix() -> String {
        "t\(UInt32.random(in: 0...UInt32.max))_"
    }

    /// One query on a fresh connection of ours; the first cell of the last result.
    static func first(_ sql: String) async throws -> String? {
        let (configuration, _) = try MySQLConfiguration.make(url: BackendURL(try url()))
        let connection = try await MySQLConnection.connect(
            configuration.connection, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: MySQLBackendServerTests.logger
        )
        defer { connection.closeNow() }
        let results = try await connection.query(sql, timeout: .seconds(30), doing: "probe")
        return MySQLBackend.resultSets(results).last?.rows.first?.string(0)
    }

    /// How many connections wait in `GET_LOCK` for `name`.
    static func waiters(of name: String) async throws -> Int {
        let needle = MySQLLiteral.binary(name)
        let count = try await first(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE state = 'User lock' AND LOCATE(\(MySQLLiteral.binary(needle)), info) > 0"
        )
        return Int(count ?? "") ?? -1
    }
}
