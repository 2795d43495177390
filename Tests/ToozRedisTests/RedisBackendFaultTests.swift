import ToozServerTestSupport
import Foundation
import Logging
import Testing
import ToozBackends
import ToozRedis
import ToozTestKit

/// The redis:// backend when its server or connection fails: each test starts its own
/// redis-server (or sentinel setup) and breaks it on purpose.
@Suite(
    "Redis backend faults",
    .enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct RedisBackendFaultTests {
    private static let logger = Logger(label: "test.redis")

    private static func url(_ server: RedisTestServer, _ options: String) -> String {
        "redis://127.0.0.1:\(server.port)?\(options)"
    }

    private static func admin(_ server: RedisTestServer, _ command: RedisCommand) async throws -> RESPValue {
        try await RedisSentinelTestSetup.ask(server.endpoint, command, logger)
    }

    @Test func restartingTheServerLosesHeldLocksAndTheCoordinatorReconnectsByItself() async throws {
        try await RedisTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server, "lock_timeout=3&timeout=5"), member: "holder")
            try await coordinator.withRunning {
                let lease = try #require(try await coordinator.lock(named: "restart").tryAcquire())
                #expect(lease.state == .held)
                // No persistence: the restarted server has forgotten every key.
                try await server.restart()
                try await eventually("the lease to be lost") {
                    if case .lost = lease.state { return true }
                    return false
                }
                // New acquisitions work again once the coordinator has reconnected.
                try await eventually("a new acquisition after the restart", toleratingErrors: true) {
                    guard let again = try await coordinator.lock(named: "after-restart").tryAcquire() else { return false }
                    return try await again.release()
                }
                let retaken = try #require(try await coordinator.lock(named: "restart").tryAcquire())
                #expect(retaken.state == .held)
                #expect(try await retaken.release())
            }
        }
    }

    @Test func aCutConnectionIsRemadeAndTheLeaseSurvives() async throws {
        try await RedisTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server, "lock_timeout=30"), member: "survivor")
            try await coordinator.withRunning {
                let lease = try #require(try await coordinator.lock(named: "cut").tryAcquire())
                let killed = try await Self.admin(server, RedisCommand("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
                #expect(killed.integer.map { $0 >= 1 } == true, "CLIENT KILL gave \(killed)")
                try await eventually("the coordinator to reach the server again", toleratingErrors: true) {
                    try await coordinator.lock(named: "cut").holder() == "survivor"
                }
                #expect(lease.state.isUsable)
                #expect(try await lease.release())
            }
        }
    }

    @Test func aWaiterStillWakesWhenItsSubscriptionIsCut() async throws {
        try await RedisTestServer.withServer { server in
            let url = Self.url(server, "lock_timeout=30&lock_poll_interval=0.2")
            let holder = try Coordinator(url: url, member: "holder")
            let waiter = try Coordinator(url: url, member: "waiter")
            try await holder.withRunning {
                try await waiter.withRunning {
                    let lease = try #require(try await holder.lock(named: "sub").tryAcquire())
                    try await withThrowingTaskGroup(of: MemberID?.self) { group in
                        group.addTask {
                            let taken = try await waiter.lock(named: "sub").acquire(wait: .upTo(.seconds(60)))
                            defer { _ = taken }
                            let member = taken.member
                            _ = try await taken.release()
                            return member
                        }
                        // The waiter's listener is the connection with client tracking on (flag t).
                        var listener: Substring?
                        try await eventually("the waiter's listener to connect") {
                            let clients = try await Self.admin(server, RedisCommand("CLIENT", "LIST"))
                            let line = clients.string?.split(separator: "\n").first { line in
                                line.split(separator: " ").contains { $0.hasPrefix("flags=") && $0.contains("t") }
                            }
                            listener = line?.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3)
                            return listener != nil
                        }
                        _ = try await Self.admin(server, RedisCommand("CLIENT", "KILL", "ID", String(listener ?? "")))
                        #expect(try await lease.release())
                        let winner = try await group.next()
                        #expect(winner == "waiter")
                    }
                }
            }
        }
    }

    @Test func flushedScriptsAreSentAgain() async throws {
        try await RedisTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server, "timeout=30"), member: "m1")
            try await coordinator.withRunning {
                _ = try await Self.admin(server, RedisCommand("SCRIPT", "FLUSH"))
                try await coordinator.createGroup("flushed")
                try await coordinator.join("flushed", capabilities: ["k": 1])
                #expect(try await coordinator.members(of: "flushed") == ["m1"])
                let lease = try #require(try await coordinator.lock(named: "flushed").tryAcquire())
                #expect(try await lease.release())
            }
        }
    }

    @Test func anUnreachableServerIsAConnectionFailure() async throws {
        let port = try RedisTestServer.freePort()
        let (backend, _) = try BackendFactory.makeBackend(url: "redis://127.0.0.1:\(port)?socket_connect_timeout=2")
        let error = await #expect(throws: ToozError.self) { try await backend.connect() }
        #expect(error?.code == .connectionFailed)
        await backend.disconnect()
    }

    @Test func fencingTokensGrowWithEveryAcquisition() async throws {
        try await RedisTestServer.withServer { server in
            let coordinator = try Coordinator(url: Self.url(server, "timeout=30"), member: "fenced")
            try await coordinator.withRunning {
                var tokens: [FencingToken] = []
                for _ in 0..<5 {
                    let lease = try #require(try await coordinator.lock(named: "fence").tryAcquire())
                    tokens.append(lease.fencingToken)
                    #expect(try await lease.release())
                }
                #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0.value < $1.value }, "\(tokens)")
                #expect(tokens.allSatisfy { $0.strength == .failoverUnsafe })
            }
        }
    }

    /// The URL's first sentinel is down, so the master is found through `sentinel_fallback`;
    /// after the master is killed, the sentinel promotes the replica and the coordinator finds it.
    @Test func sentinelFailoverFindsTheNewMaster() async throws {
        try await RedisSentinelTestSetup.with { setup in
            let deadSentinel = try RedisTestServer.freePort()
            let url =
                "redis://127.0.0.1:\(deadSentinel)?sentinel=\(RedisSentinelTestSetup.masterName)"
                + "&sentinel_fallback=127.0.0.1:\(setup.sentinelPort)&timeout=10&socket_timeout=2&socket_connect_timeout=1"
            let coordinator = try Coordinator(url: url, member: "sentinel-user")
            try await coordinator.withRunning {
                let before = try #require(try await coordinator.lock(named: "before").tryAcquire())
                #expect(try await before.release())
                await setup.master.kill9()
                try await eventually(
                    "an acquisition on the promoted replica", within: .seconds(90), toleratingErrors: true
                ) {
                    guard let lease = try await coordinator.lock(named: "after-failover").tryAcquire() else { return false }
                    return try await lease.release()
                }
                let role = try await Self.admin(setup.replica, RedisCommand("ROLE"))
                guard case .array(.some(let parts)) = role else {
                    Issue.record("ROLE gave \(role)")
                    return
                }
                #expect(parts.first?.string == "master")
            }
        }
    }
}

extension RESPValue {
    fileprivate var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}
