import Foundation
import Testing
import ToozServerTestSupport
import ToozTestKit

@testable import ToozCLI

/// The central promise with a frozen server: `tooz lock NAME -- CMD` holds the lock, the server
/// is stopped with SIGSTOP (its connection stays open, nothing answers), and CMD must be
/// terminated before the lease's TTL can run out on the server — exit 76, lease lost. Each test
/// runs its own server, so freezing it disturbs no other test.
@Suite struct FrozenServerTests {
    @Test(.enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed: run scripts/test"))
    func redisFrozenWhileACommandHoldsTheLock() async throws {
        try await RedisTestServer.withServer { server in
            // The measured failure: a 30 s command timeout let CMD run 27 s past the 3 s TTL.
            let url = "redis://127.0.0.1:\(server.port)?lock_timeout=3&timeout=30"
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(3), freeze: server.pause, thaw: server.resume)
        }
    }

    @Test(.enabled(if: ZooKeeperTestServer.testsEnabled, "ZooKeeper is not installed: run scripts/test"))
    func zooKeeperFrozenWhileACommandHoldsTheLock() async throws {
        try await ZooKeeperTestServer.withServer { server in
            // A 4 s session: the server may expire it 4 s after it last heard from us.
            let url = server.url + "?timeout=4"
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(4), freeze: server.pause, thaw: server.resume)
        }
    }

    @Test(.enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed: run scripts/test"))
    func postgresFrozenWhileACommandHoldsTheLock() async throws {
        try await PostgresTestServer.withServer { server in
            // The lock's session carries idle_session_timeout = 3 s: the server may end it, and
            // free the lock, 3 s after the last refresh it answered.
            let url = server.url + "?lock_timeout=3&timeout=30"
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(3), freeze: server.pause, thaw: server.resume)
        }
    }

    @Test(.enabled(if: MySQLTestServer.testsEnabled, "MariaDB is not installed: run scripts/test"))
    func mysqlFrozenWhileACommandHoldsTheLock() async throws {
        try await MySQLTestServer.withServer { server in
            // The lock's session carries wait_timeout = 3 s: the server may end it, and free
            // the lock, 3 s after the last refresh it answered.
            let url = server.url + "?lock_timeout=3&timeout=30"
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(3), freeze: server.pause, thaw: server.resume)
        }
    }

    @Test(.enabled(if: MemcachedTestServer.testsEnabled, "memcached is not installed: run scripts/test"))
    func memcachedFrozenWhileACommandHoldsTheLock() async throws {
        try await MemcachedTestServer.withServer { server in
            // memcached counts whole seconds on a clock that ticks once a second: an item stored
            // for 4 s may be gone after 3, so another holder could get the lock 3 s after the
            // last refresh that reached the server, which was before the freeze.
            let url = "memcached://127.0.0.1:\(server.port)?lock_timeout=4&timeout=30"
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(3), freeze: server.pause, thaw: server.resume)
        }
    }

    @Test(.enabled(if: EtcdTestServer.testsEnabled, "etcd is not installed: run scripts/test"))
    func etcdFrozenWhileACommandHoldsTheLock() async throws {
        try await EtcdTestServer.withServer { server in
            // The session lease the lock rides on is granted for 3 s: etcd may revoke it 3 s
            // after the last keepalive it answered, which was before the freeze.
            let url = "etcd3+http://127.0.0.1:\(server.port)?lock_timeout=3&timeout=30"
            let member = server.members[0]
            try await expectCommandStoppedWithinTTL(url: url, ttl: .seconds(3), freeze: member.pause, thaw: member.resume)
        }
    }

    private func expectCommandStoppedWithinTTL(
        url: String, ttl: Duration, freeze: () -> Void, thaw: () -> Void
    ) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = scratch.path + "/command.pid"
        let stoppedFile = scratch.path + "/command.stopped"
        // CMD notes the moment SIGTERM reaches it, on the wall clock, itself: the test process
        // polls for its end from a thread pool that a loaded machine may starve for a second,
        // and that delay is the test's, not the lease's.
        let script = """
            echo $$ > '\(pidFile)'
            trap 'date +%s.%N > "\(stoppedFile).tmp"; mv "\(stoppedFile).tmp" "\(stoppedFile)"; exit 0' TERM
            sleep 600 &
            wait
            """
        let holder = try ToozProcess.start(["lock", "--url", url, "frozen", "--", "sh", "-c", script])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        let command = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: command) }

        let frozenAt = Date().timeIntervalSince1970
        freeze()
        defer { thaw() }
        try await eventually("the command to be terminated", within: .seconds(60)) { !isRunning(command) }
        let stoppedAt = try #require(
            Platform.readFile(stoppedFile).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) },
            "CMD ended without noting SIGTERM: it was killed without one")
        let stoppedAfter = Duration.seconds(stoppedAt - frozenAt)
        // The last refresh that succeeded was sent before the freeze, so the server keeps the
        // key at least until `ttl` after the freeze: the command must be told to stop by then.
        #expect(stoppedAfter < ttl, "CMD got SIGTERM \(stoppedAfter) after the freeze; the TTL is \(ttl)")
        thaw()
        #expect(try await holder.wait(limit: .seconds(120)) == .exited(76), "stderr: \(holder.stderr)")
    }

    /// Whether `pid` runs: it exists and is not a zombie waiting for its parent to reap it.
    private func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z"
    }
}
