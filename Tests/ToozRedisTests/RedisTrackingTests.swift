import ToozServerTestSupport
import ToozTestKit
import Logging
import NIOCore
import Testing
import Tooz
@testable import ToozRedis

/// Client tracking against a real redis-server: changes made by a plain client (as Python tooz
/// makes them, announcing nothing) or by the server itself (an expiry) wake swift-tooz waiters
/// and event sequences at once.
///
/// Every test sets its poll interval to 60 s, so a waiter or an event sequence that gets what it
/// waits for within 20 s can only have been woken by a push. The tests first wait (on the
/// server's `CLIENT LIST`, never on a sleep) until the waiter is really waiting: its tracking
/// connection is up and its command connection last ran the `PTTL` that follows a failed
/// attempt, so the change made next cannot be found by a first attempt instead.
@Suite(
    "Redis client tracking",
    .enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct RedisTrackingTests {
    private static let logger = Logger(label: "test.redis.tracking")
    /// Far below the 60 s poll: reaching it means the push did not arrive.
    private static let pushBound: Duration = .seconds(20)

    // MARK: Locks

    @Test func aLockDeletedByAPlainClientWakesTheWaiter() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await Self.rawClient(server)
            let key = "_tooz_python-held_lock"
            #expect(try await raw.send(RedisCommand("SET", key, "python-token", "NX", "PX", 30_000)).string == "OK")
            let (coordinator, backend) = try Self.coordinator(server, "lock_poll_interval=60", member: "waiter")
            try await coordinator.withRunning {
                try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                    group.addTask { try await Self.takeLock("python-held", coordinator: coordinator, as: "waiter") }
                    _ = try await Self.waitUntilWaiting(server)
                    #expect(backend.notifications.mode == .tracking)

                    let deleted = ContinuousClock.now
                    #expect(try await raw.send(RedisCommand("DEL", key)) == .integer(1))
                    let acquired = try #require(try await group.next())
                    #expect(acquired - deleted < Self.pushBound, "took \(acquired - deleted)")
                }
            }
            await raw.close()
        }
    }

    @Test func aLockKeyThatExpiresWakesTheWaiter() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await Self.rawClient(server)
            let key = "_tooz_crashed_lock"
            // A long lease first, so that the waiter is surely waiting before the key can go;
            // then the crashed holder's last 1.5 s (PEXPIRE is the same TTL as SET ... PX 1500).
            // The PEXPIRE is pushed; the waiter reads the new TTL and wakes when it ends (the
            // server's own expiry, pushed too, can come up to 100 ms later).
            #expect(try await raw.send(RedisCommand("SET", key, "dead-token", "NX", "PX", 30_000)).string == "OK")
            let (coordinator, _) = try Self.coordinator(server, "lock_poll_interval=60", member: "waiter")
            try await coordinator.withRunning {
                try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                    group.addTask { try await Self.takeLock("crashed", coordinator: coordinator, as: "waiter") }
                    _ = try await Self.waitUntilWaiting(server)

                    let expiring = ContinuousClock.now
                    #expect(try await raw.send(RedisCommand("PEXPIRE", key, 1_500)) == .integer(1))
                    let acquired = try #require(try await group.next())
                    // The server keeps the key for 1.5 s: an earlier acquisition would be a bug.
                    #expect(acquired - expiring >= .milliseconds(1_400), "took \(acquired - expiring)")
                    #expect(acquired - expiring < Self.pushBound, "took \(acquired - expiring)")
                }
            }
            await raw.close()
        }
    }

    @Test func aWaiterIsWokenThroughTheReconnectedTrackingConnection() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await Self.rawClient(server)
            let key = "_tooz_reconnect_lock"
            #expect(try await raw.send(RedisCommand("SET", key, "python-token", "NX", "PX", 30_000)).string == "OK")
            let (coordinator, _) = try Self.coordinator(server, "lock_poll_interval=60", member: "waiter")
            try await coordinator.withRunning {
                try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                    group.addTask { try await Self.takeLock("reconnect", coordinator: coordinator, as: "waiter") }
                    let first = try await Self.waitUntilWaiting(server)
                    let killed = try await Self.admin(server, RedisCommand("CLIENT", "KILL", "ID", first))
                    #expect(killed == .integer(1), "CLIENT KILL gave \(killed)")
                    // The drop woke the waiter; it tried again and now waits on a new connection.
                    let second = try await Self.waitUntilWaiting(server, excluding: [first])
                    #expect(second != first)

                    let deleted = ContinuousClock.now
                    #expect(try await raw.send(RedisCommand("DEL", key)) == .integer(1))
                    let acquired = try #require(try await group.next())
                    #expect(acquired - deleted < Self.pushBound, "took \(acquired - deleted)")
                }
            }
            await raw.close()
        }
    }

    @Test func withoutTrackingASwiftReleaseIsStillAnnounced() async throws {
        try await RedisTestServer.withServer { server in
            // A user who may do anything but turn tracking on: the listener falls back to pub/sub.
            let acl = try await Self.admin(
                server, RedisCommand("ACL", "SETUSER", "notrack", "on", ">pw", "~*", "&*", "+@all", "-client|tracking")
            )
            #expect(acl.string == "OK", "ACL SETUSER gave \(acl)")
            let options = "lock_poll_interval=60"
            let url = "redis://notrack:pw@127.0.0.1:\(server.port)?\(options)"
            let (holder, _) = try Self.coordinator(url: url, member: "holder")
            let (waiter, waiterBackend) = try Self.coordinator(url: url, member: "waiter")
            try await holder.withRunning {
                try await waiter.withRunning {
                    let lease = try #require(try await holder.lock(named: "announced").tryAcquire())
                    try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                        group.addTask { try await Self.takeLock("announced", coordinator: waiter, as: "waiter") }
                        _ = try await Self.waitUntilWaiting(server, listener: { $0["flags"]?.contains("P") == true })
                        #expect(waiterBackend.notifications.mode == .announcements)

                        let released = ContinuousClock.now
                        #expect(try await lease.release())
                        let acquired = try #require(try await group.next())
                        #expect(acquired - released < Self.pushBound, "took \(acquired - released)")
                    }
                }
            }
        }
    }

    // MARK: Groups

    @Test func aMemberWrittenByAPlainClientIsSeenJoiningAtOnce() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await Self.rawClient(server)
            let (coordinator, backend) = try Self.coordinator(server, "poll_interval=60", member: "watcher")
            try await coordinator.withRunning {
                try await coordinator.createGroup("workers")
                var events = try await Self.eventsWithListenerUp(coordinator, "workers")
                guard case .snapshot(let snapshot) = try await events.next() else {
                    Issue.record("the first event was not a snapshot")
                    return
                }
                #expect(snapshot.members.isEmpty)
                #expect(backend.notifications.mode == .tracking)

                // What Python tooz's join_group writes: a live beat key, then the hash field
                // (capabilities None, oslo msgpack nil).
                let written = ContinuousClock.now
                _ = try await raw.send(RedisCommand("PSETEX", "_tooz_beats:python-member", 30_000, "Not dead!"))
                _ = try await raw.send(RedisCommand("HSET", "_tooz_group:workers", "python-member", ByteBuffer(bytes: [0xC0])))
                let event = try await events.next()
                #expect(event == .joined("python-member", capabilities: .nil))
                #expect(ContinuousClock.now - written < Self.pushBound, "took \(ContinuousClock.now - written)")
            }
            await raw.close()
        }
    }

    @Test func aMemberWhoseBeatExpiresIsSeenLeavingAtOnce() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await Self.rawClient(server)
            let (coordinator, _) = try Self.coordinator(server, "poll_interval=60", member: "watcher")
            try await coordinator.withRunning {
                try await coordinator.createGroup("workers")
                _ = try await raw.send(RedisCommand("PSETEX", "_tooz_beats:doomed", 30_000, "Not dead!"))
                _ = try await raw.send(RedisCommand("HSET", "_tooz_group:workers", "doomed", ByteBuffer(bytes: [0xC0])))
                var events = try await Self.eventsWithListenerUp(coordinator, "workers")
                guard case .snapshot(let snapshot) = try await events.next() else {
                    Issue.record("the first event was not a snapshot")
                    return
                }
                #expect(Set(snapshot.members.keys) == ["doomed"])

                // The member's process dies: nobody renews its beat, which runs out in 1 s.
                let dying = ContinuousClock.now
                #expect(try await raw.send(RedisCommand("PEXPIRE", "_tooz_beats:doomed", 1_000)) == .integer(1))
                let event = try await events.next()
                #expect(event == .left("doomed"))
                let took = ContinuousClock.now - dying
                #expect(took >= .milliseconds(900), "took \(took)")
                #expect(took < Self.pushBound, "took \(took)")
            }
            await raw.close()
        }
    }

    // MARK: Helpers

    private static func coordinator(
        _ server: RedisTestServer, _ options: String, member: MemberID
    ) throws -> (Coordinator, RedisBackend) {
        try coordinator(url: "redis://127.0.0.1:\(server.port)?\(options)", member: member)
    }

    private static func coordinator(url: String, member: MemberID) throws -> (Coordinator, RedisBackend) {
        let (backend, configuration) = try RedisBackends.make(BackendURL(url))
        let redis = try #require(backend as? RedisBackend)
        return (try Coordinator(backend: backend, member: member, configuration: configuration), redis)
    }

    /// A client that writes tooz keys the way Python tooz does: plain commands, no scripts.
    private static func rawClient(_ server: RedisTestServer) async throws -> RedisConnection {
        var configuration = RedisConnectionConfiguration()
        configuration.clientName = "plain-client"
        return try await RedisConnection.connect(to: server.endpoint, configuration: configuration, logger: logger)
    }

    private static func admin(_ server: RedisTestServer, _ command: RedisCommand) async throws -> RESPValue {
        try await RedisSentinelTestSetup.ask(server.endpoint, command, logger)
    }

    /// Waits for `name` and returns when it held it, after checking that it was ours.
    private static func takeLock(_ name: LockName, coordinator: Coordinator, as member: MemberID) async throws -> ContinuousClock.Instant {
        try await coordinator.withLock(named: name, wait: .forever) { lease in
            let acquired = ContinuousClock.now
            #expect(lease.member == member)
            let holder = try await coordinator.lock(named: name).holder()
            #expect(holder == member)
            return acquired
        }
    }

    /// An event iterator for `group` that has not started yet, made after the listener is up.
    ///
    /// The listener comes up during the first read of a group someone watches, and its arrival
    /// wakes every watcher to re-read (anything may have changed before it listened). A sequence
    /// that brought the listener up would therefore see a change made just after its snapshot
    /// through that re-read, push or no push; a warm-up sequence takes that role instead.
    private static func eventsWithListenerUp(_ coordinator: Coordinator, _ group: GroupID) async throws -> GroupEvents.Iterator {
        var warmUp = try coordinator.events(in: group).makeAsyncIterator()
        guard case .snapshot = try await warmUp.next() else {
            Issue.record("the warm-up sequence did not start with a snapshot")
            throw CancellationError()
        }
        return try coordinator.events(in: group).makeAsyncIterator()
    }

    /// `CLIENT LIST`, one `[field: value]` per connection.
    private static func clients(_ server: RedisTestServer) async throws -> [[String: String]] {
        let reply = try await admin(server, RedisCommand("CLIENT", "LIST"))
        let text = try #require(reply.string)
        return text.split(separator: "\n").map { line in
            var fields: [String: String] = [:]
            for field in line.split(separator: " ") {
                let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
    }

    /// Returns the id of the swift-tooz listener connection (not one of `excluding`) once it is
    /// up and the coordinator's command connection last ran `PTTL`: the lock waiter checked
    /// the key after its listener was ready, so any later change reaches it.
    private static func waitUntilWaiting(
        _ server: RedisTestServer,
        excluding: Set<String> = [],
        listener isListener: @escaping @Sendable ([String: String]) -> Bool = { $0["flags"]?.contains("t") == true }
    ) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let clients = try await clients(server)
            let ours = clients.filter { $0["name"] == "swift-tooz" }
            if let listener = ours.first(where: { isListener($0) && !excluding.contains($0["id"] ?? "") }),
                let id = listener["id"],
                ours.contains(where: { !isListener($0) && $0["cmd"] == "pttl" })
            {
                return id
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the waiter never waited with its listener up")
        throw CancellationError()
    }
}
