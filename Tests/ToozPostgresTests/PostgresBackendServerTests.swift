import Logging
import Testing
import ToozBackends
import ToozServerTestSupport
import ToozTestKit

@testable import ToozPostgres

/// The postgresql:// backend against its own throwaway cluster: what the server enforces
/// (session locks that end with their connection, a restart that ends every session), pushed
/// events, durable fencing, and bad input.
@Suite(
    "PostgreSQL backend against a server",
    .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed (scripts/test installs it)"),
    // One cluster at a time: each initdb and server start is seconds of CPU, and nine at once
    // starved the rest of the suite on a 2-core machine.
    .serialized,
    .timeLimit(.minutes(3))
)
struct PostgresBackendServerTests {
    private static let logger = Logger(label: "test.postgresql")

    private static func backend(_ url: String) throws -> PostgresBackend {
        let (backend, _) = try PostgresBackends.make(BackendURL(url), logger: logger)
        return backend as! PostgresBackend
    }

    private static func connectError(_ url: String) async throws -> ToozError {
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

    @Test func aRestartEndsEveryLockAtOnceAndMembersJoinAgain() async throws {
        try await PostgresTestServer.withServer { server in
            // A patient timeout: under a loaded CI the first statements after a restart took seconds.
            let coordinator = try Coordinator(url: server.url + "?timeout=30", member: "survivor")
            try await coordinator.withRunning {
                let group = GroupID("restart")
                try await coordinator.createGroup(group)
                try await coordinator.join(group)
                let lease = try #require(try await coordinator.lock(named: "restart").tryAcquire())
                let before = lease.fencingToken
                #expect(before.strength == .durable)
                try await server.restart()
                // The lock's connection was ended with its session: reported at once, not at the TTL (30 s).
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
                #expect(again.fencingToken > before, "the fencing sequence is durable across a restart")
                #expect(try await again.release())
            }
        }
    }

    @Test func eventsArePushedWithoutWaitingForAPoll() async throws {
        try await PostgresTestServer.withServer { server in
            // An hour between polls: every event below must have been pushed by NOTIFY.
            let url = server.url + "?poll_interval=3600"
            let watcher = try Coordinator(url: url, member: "watcher")
            let joiner = try Coordinator(url: url, member: "joiner")
            try await watcher.withRunning {
                try await joiner.withRunning {
                    let group = GroupID("pushed")
                    try await watcher.createGroup(group)
                    var events = try watcher.events(in: group).makeAsyncIterator()
                    guard case .snapshot(let snapshot) = try await events.next() else {
                        Issue.record("the stream did not start with a snapshot")
                        return
                    }
                    #expect(snapshot.members.isEmpty)
                    try await joiner.join(group, capabilities: .string("a"))
                    #expect(try await nextMembershipEvent(&events)?.description == "joined joiner")
                    try await joiner.updateCapabilities(.string("b"), in: group)
                    #expect(try await nextMembershipEvent(&events)?.description == "capabilities joiner")
                    let leadership = try await joiner.lock(named: "unused").tryAcquire()
                    #expect(try await leadership?.release() == true)
                    try await joiner.leave(group)
                    #expect(try await nextMembershipEvent(&events)?.description == "left joiner")
                }
            }
        }
    }

    private func nextMembershipEvent(_ events: inout GroupEvents.Iterator) async throws -> GroupEvent? {
        while let event = try await events.next() {
            if case .membershipChanged = event { continue }
            return event
        }
        return nil
    }

    @Test func aLockHeldByAConnectionThatIsEndedIsReportedLostAndTheNextHolderGetsAHigherToken() async throws {
        try await PostgresTestServer.withServer { server in
            let holder = try Self.backend(server.url)
            let other = try Self.backend(server.url)
            let lost = LockedValue<[BackendSignal]>([])
            try await holder.connect(BackendContext(logger: Self.logger, clock: .continuous) { signal in lost.withLock { $0.append(signal) } })
            try await other.connect()
            let key = LockKey.lock("ended")
            let owner = LockOwner(member: "holder")
            let grant = try #require(try await holder.tryAcquire(key, owner: owner, ttl: .seconds(30)))
            #expect(try await other.tryAcquire(key, owner: LockOwner(member: "other"), ttl: .seconds(30)) == nil)
            #expect(try await other.holder(of: key) == "holder")
            // An administrator ends the holder's session (what a restart or a network failure does).
            let ended = try server.psql(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
            )
            #expect(ended == "1")
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
            await holder.disconnect()
            await other.disconnect()
        }
    }

    @Test func aBlockingWaitIsHandedTheLockByTheServerAndAWaitWithADeadlineLeavesNothingBehind() async throws {
        try await PostgresTestServer.withServer { server in
            let holder = try Self.backend(server.url)
            let waiter = try Self.backend(server.url)
            try await holder.connect()
            try await waiter.connect()
            let key = LockKey.lock("handed")
            let grant = try #require(try await holder.tryAcquire(key, owner: LockOwner(member: "holder"), ttl: .seconds(30)))
            let clock = ContinuousToozClock()
            // A wait that times out on the server (lock_timeout) returns nil and holds nothing.
            let short = AcquireRequest(
                key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: clock.now() + .milliseconds(200), clock: clock,
                pollInterval: .seconds(1)
            )
            #expect(try await waiter.acquire(short) == nil)
            let waiting = try server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND NOT granted")
            #expect(waiting == "0")
            // A wait without deadline is granted when the holder releases.
            let forever = AcquireRequest(key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: nil, clock: clock, pollInterval: .seconds(3600))
            async let granted = waiter.acquire(forever)
            try await eventually("the waiter to wait on the server") {
                (try? server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND NOT granted")) == "1"
            }
            #expect(try await holder.release(key, grant: grant))
            let handed = try #require(try await granted)
            #expect(handed.fencingToken > grant.fencingToken)
            #expect(try await waiter.release(key, grant: handed))
            await holder.disconnect()
            await waiter.disconnect()
        }
    }

    @Test func aCancelledWaitEndsOnTheServer() async throws {
        try await PostgresTestServer.withServer { server in
            let holder = try Self.backend(server.url)
            let waiter = try Self.backend(server.url)
            try await holder.connect()
            try await waiter.connect()
            let key = LockKey.lock("cancelled")
            let grant = try #require(try await holder.tryAcquire(key, owner: LockOwner(member: "holder"), ttl: .seconds(30)))
            let clock = ContinuousToozClock()
            let request = AcquireRequest(key: key, owner: LockOwner(member: "waiter"), ttl: .seconds(30), deadline: nil, clock: clock, pollInterval: .seconds(3600))
            let wait = Task { try await waiter.acquire(request) }
            try await eventually("the waiter to wait on the server") {
                (try? server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND NOT granted")) == "1"
            }
            wait.cancel()
            await #expect(throws: CancellationError.self) { try await wait.value }
            try await eventually("the server to forget the wait") {
                (try? server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND NOT granted")) == "0"
            }
            #expect(try await holder.release(key, grant: grant))
            await holder.disconnect()
            await waiter.disconnect()
        }
    }

    @Test func namesWithQuotesAndSemicolonsAreStoredAsTheyAre() async throws {
        try await PostgresTestServer.withServer { server in
            let coordinator = try Coordinator(url: server.url, member: "o'brien\"; DROP TABLE tooz.groups; --")
            try await coordinator.withRunning {
                let group = GroupID("g'roup\"; SELECT 1; --")
                try await coordinator.createGroup(group)
                try await coordinator.join(group, capabilities: .string("x'y"))
                #expect(try await coordinator.members(of: group) == ["o'brien\"; DROP TABLE tooz.groups; --"])
                #expect(try await coordinator.groups().contains(group))
                let lease = try #require(try await coordinator.lock(named: "l'ock\"").tryAcquire())
                #expect(try await coordinator.lock(named: "l'ock\"").holder() == "o'brien\"; DROP TABLE tooz.groups; --")
                #expect(try await lease.release())
            }
            #expect(try server.psql("SELECT count(*) FROM tooz.groups") == "1")
        }
    }

    @Test func aWrongPasswordAnUnknownDatabaseAndAServerThatIsNotPostgreSQLAreClearErrors() async throws {
        try await PostgresTestServer.withServer { server in
            let wrong = try await Self.connectError("postgresql://tooz:not-the-password@127.0.0.1:\(server.port)/tooz")
            #expect(wrong.code == .connectionFailed)
            #expect(wrong.message.contains("password authentication failed"), "\(wrong.message)")
            #expect(!wrong.message.contains("not-the-password"))
            #expect(!"\(wrong)".contains("not-the-password"))

            let unknown = try await Self.connectError("postgresql://tooz:tooz-secret@127.0.0.1:\(server.port)/nowhere")
            #expect(unknown.code == .connectionFailed)
            #expect(unknown.message.contains("\"nowhere\" does not exist"), "\(unknown.message)")
        }
        let garbage = try await GarbageServer.start(reply: "HTTP/1.1 400 Bad Request\r\n\r\n")
        let notPostgres = try await Self.connectError("postgresql://tooz:secret@127.0.0.1:\(garbage.port)/tooz?timeout=5")
        #expect(notPostgres.code == .connectionFailed)
        #expect(!notPostgres.message.contains("secret"))
        try await garbage.close()
    }

    @Test func aReadOnlyUserGetsAClearErrorAndNothingIsWritten() async throws {
        try await PostgresTestServer.withServer { server in
            // The schema exists (made by the owner); the reader may read it, not write it.
            let owner = try Self.backend(server.url)
            try await owner.connect()
            await owner.disconnect()
            try server.psql(
                """
                CREATE ROLE reader LOGIN PASSWORD 'read-only';
                GRANT USAGE ON SCHEMA tooz TO reader;
                GRANT SELECT ON ALL TABLES IN SCHEMA tooz TO reader;
                """
            )
            let coordinator = try Coordinator(url: "postgresql://reader:read-only@127.0.0.1:\(server.port)/tooz", member: "reader")
            try await coordinator.withRunning {
                let error = await #expect(throws: ToozError.self) { try await coordinator.createGroup("refused") }
                #expect(error?.code == .backendError)
                #expect(error?.message.contains("permission denied") == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("read-only") == false)
            }
            #expect(try server.psql("SELECT count(*) FROM tooz.groups") == "0")
        }
    }

    @Test func aUserWithoutCreateOnANewDatabaseCannotConnectAndSaysWhy() async throws {
        try await PostgresTestServer.withServer { server in
            try server.psql("CREATE ROLE visitor LOGIN PASSWORD 'visit'")
            try server.psql("CREATE DATABASE fresh")
            try server.psql("REVOKE CREATE ON DATABASE fresh FROM PUBLIC")
            let error = try await Self.connectError("postgresql://visitor:visit@127.0.0.1:\(server.port)/fresh")
            #expect(error.code == .backendError)
            #expect(error.message.contains("permission denied"), "\(error.message)")
        }
    }
}

/// A value behind a lock, for signals collected from callbacks.
final class LockedValue<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { value.withLock(body) }
}

import Synchronization
