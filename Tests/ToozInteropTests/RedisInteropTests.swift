import Logging
import NIOCore
import Testing
import ToozBackends
import ToozRedis
import ToozTestKit

/// Python tooz 9.1.0 and swift-tooz on one real redis-server (`TOOZ_TEST_REDIS_URL`): they share
/// groups, capabilities and liveness, exclude each other on locks and leadership, and break each
/// other's locks, both ways.
///
/// The server is shared with other tests and runs, so every group, member and lock name is
/// unique, every test removes what it made, and every wait has a limit. Tests that wait for a
/// TTL set a short one with the same URL options on both sides.
@Suite(
    "Interop: Redis with Python tooz", .requiresPythonTooz, .requiresRedisServer, .serialized,
    .timeLimit(.minutes(3))
)
struct RedisInteropTests {
    typealias Creator = ServerGroupInterop.Creator

    // MARK: Groups and capabilities

    @Test("Members, capabilities, updates and leaves are seen on both sides", arguments: Creator.allCases)
    func groupsAndCapabilities(creator: Creator) async throws {
        let url = try InteropEnvironment.requireRedisURL()
        let group = uniqueName("redis-group")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("groups", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await ServerGroupInterop.membersCapabilitiesUpdatesAndLeaves(
                    creator: creator, coordinator: coordinator, python: python,
                    group: group, swiftMember: swiftMember, pythonMember: pythonMember
                )
                try await coordinator.leave(g)
                #expect(try await python.members(of: group) == [])

                // The creator deletes it; it is gone for both (which also proves both left).
                switch creator {
                case .swift: try await coordinator.deleteGroup(g)
                case .python: try await python.call("delete_group", ["group": .string(group)])
                }
                #expect(try await !coordinator.groups().contains(g))
                #expect(try await !python.groups().contains(group))
            }
        }
    }

    // MARK: Liveness

    @Test("A running Swift member is not pruned by Python's get_members over two membership TTLs")
    func runningSwiftMemberStays() async throws {
        // 5 s, not less: on a loaded 2-core machine a renewal can run a second late.
        let ttlSeconds = 5
        let url = try InteropEnvironment.requireRedisURL("timeout=\(ttlSeconds)")
        let group = uniqueName("redis-alive")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("alive", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                try await coordinator.join(g)
                try await python.joinGroup(group, capabilitiesLiteral: nil)

                // Every get_members prunes members whose beat key has expired; Swift's beat
                // must be renewed well within the TTL for the whole span.
                var rounds = 0
                var misses: [Set<String>] = []
                let end = ContinuousClock.now + .seconds(ttlSeconds * 2 + 1)
                while ContinuousClock.now < end {
                    let seen = try await python.members(of: group)
                    if seen != [swiftMember, pythonMember] { misses.append(seen) }
                    rounds += 1
                    try await Task.sleep(for: .milliseconds(400))
                }
                #expect(rounds >= 5)
                #expect(misses.isEmpty, "Python's get_members did not list both members \(misses.count) times: \(misses)")
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])

                try await python.leaveGroup(group)
                try await coordinator.leave(g)
                try await coordinator.deleteGroup(g)
            }
        }
    }

    @Test("A killed Python member disappears from Swift's members once its beat expires")
    func killedPythonMemberIsPruned() async throws {
        let ttlSeconds = 3
        let url = try InteropEnvironment.requireRedisURL("timeout=\(ttlSeconds)")
        let group = uniqueName("redis-killed")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("killed", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                try await python.joinGroup(group, capabilitiesLiteral: "{'doomed': True}")
                try await coordinator.join(g)
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])

                // No stop(): the beat key stays until its PSETEX runs out, and the group hash
                // keeps the member until someone prunes it.
                try await python.kill()
                try await eventually("the killed Python member to be pruned from the members") {
                    try await coordinator.members(of: g) == [MemberID(swiftMember)]
                }
                // Pruned from the hash too, not only hidden: its capabilities are gone.
                await #expect {
                    try await coordinator.capabilities(of: MemberID(pythonMember), in: g)
                } throws: { error in
                    (error as? ToozError)?.code == .memberNotJoined
                }

                try await coordinator.leave(g)
                try await coordinator.deleteGroup(g)
            }
        }
    }

    // MARK: Locks

    @Test("A Python holder keeps Swift out; a waiting Swift acquire gets the lock once Python releases")
    func pythonHoldsLock() async throws {
        let url = try InteropEnvironment.requireRedisURL()
        let lockName = uniqueName("redis-lock")
        try await Self.withPython("lock-py", url: url, member: uniqueName("py")) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                // Busy, but with no owner record: Python writes only the token.
                #expect(try await lock.holder() == nil)
                await #expect {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        Issue.record("the body ran while Python held \(lockName)")
                    }
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }

                // Python announces nothing on release: the waiter finds out by its poll.
                async let waited = lock.acquire(wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await python.release(lockName))
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)

                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await python.tryAcquire(lockName))
                #expect(try await python.release(lockName))
            }
        }
    }

    @Test("A Swift holder keeps Python out; a blocking Python acquire gets the lock once Swift releases")
    func swiftHoldsLock() async throws {
        let url = try InteropEnvironment.requireRedisURL()
        let lockName = uniqueName("redis-lock")
        try await Self.withPython("lock-swift", url: url, member: uniqueName("py")) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                #expect(try await lock.holder() == swiftMember)

                #expect(try await python.tryAcquire(lockName) == false)
                let started = try await python.startBlockingAcquire(lockName)
                #expect(started.done == false)
                let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 1)
                #expect(meanwhile.done == false, "Python acquired \(lockName) while Swift held it: \(meanwhile)")

                #expect(try await lease.release())
                #expect(lease.state == .released)
                let after = try await python.waitForBackgroundAcquire(lockName, seconds: 30)
                #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))

                // Python's hold is real: Swift is kept out, and sees no owner it could name.
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == nil)
                #expect(try await python.release(lockName))
                let again = try #require(try await lock.tryAcquire())
                // The fencing counter grows across acquisitions, whoever held in between.
                #expect(again.fencingToken > lease.fencingToken)
                #expect(try await lock.release())
            }
        }
    }

    @Test("Swift's breakLock frees a lock a Python member holds")
    func swiftBreaksPythonLock() async throws {
        let url = try InteropEnvironment.requireRedisURL()
        let lockName = uniqueName("redis-lock")
        try await Self.withPython("break-py", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                #expect(try await python.isStillOwner(lockName))

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.breakLock())
                #expect(try await python.isStillOwner(lockName) == false)

                let lease = try #require(try await lock.tryAcquire(), "Swift could not take \(lockName) after breaking it")
                #expect(lease.state == .held)
                // Python's release of a lock it no longer owns fails and leaves Swift's hold alone.
                #expect(try await python.release(lockName) == false)
                #expect(try await lock.holder() == coordinator.member)
                #expect(try await lock.release())
                #expect(try await lock.breakLock() == false)
            }
        }
    }

    @Test("Python's lock_break turns a Swift lease lost (revoked) and cancels a withLock body")
    func pythonBreaksSwiftLock() async throws {
        // Refreshes every second, so the break is noticed quickly.
        let url = try InteropEnvironment.requireRedisURL("lock_timeout=3")
        let lockName = uniqueName("redis-lock")
        try await Self.withPython("break-swift", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                #expect(try await python.breakLock(lockName))
                try await eventually("the Swift lease to be lost after Python broke \(lockName) (now \(lease.state))") {
                    !lease.state.isUsable
                }
                #expect(lease.state == .lost(.revoked))
                // A lost lease is never silently re-acquired: the lock is free for Python.
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.release() == false)
                #expect(try await python.release(lockName))

                // Inside withLock the loss cancels the body, and withLock reports it.
                await #expect {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        #expect(try await python.breakLock(lockName))
                        // Cancelled by the loss long before this ends.
                        try await Task.sleep(for: .seconds(60))
                        Issue.record("the withLock body was not cancelled after Python broke \(lockName)")
                    }
                } throws: { error in
                    (error as? ToozError)?.code == .leaseLost
                }
                #expect(try await python.tryAcquire(lockName))
                #expect(try await python.release(lockName))
            }
        }
    }

    // MARK: Leadership

    @Test("A Python leader keeps Swift out; when it stands down a waiting Swift campaign wins")
    func pythonLeadsFirst() async throws {
        let url = try InteropEnvironment.requireRedisURL("timeout=10")
        let group = uniqueName("redis-lead")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lead-py", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                let first = try await python.volunteer(group)
                #expect(first == PythonPeer.Volunteering(elected: true, events: [PythonPeer.Elected(group: group, member: pythonMember)]))
                #expect(try await python.isLeader(group))

                await #expect {
                    try await coordinator.campaign(for: g, wait: .never)
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                // Python's leader lock holds a token only: the leader cannot be named.
                #expect(try await coordinator.leader(of: g) == nil)
                #expect(coordinator.currentLeadership(of: g) == nil)

                async let campaign = coordinator.campaign(for: g, wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                let stoodDown = try await python.standDown(group)
                #expect(stoodDown == PythonPeer.StandDown(unwatched: true, released: true, how: "leader_lock"))
                let lease = try await campaign
                #expect(lease.state == .held)
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.isLeader(group) == false)

                // While Swift leads, Python's rounds elect nobody.
                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.runWatchers() == [PythonPeer.Elected(group: group, member: pythonMember)])
                #expect(try await python.isLeader(group) == false)

                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                _ = try await python.standDown(group)
            }
        }
    }

    @Test("A Swift leader keeps Python out; when it stands down Python's run_watchers elects Python")
    func swiftLeadsFirst() async throws {
        let url = try InteropEnvironment.requireRedisURL("timeout=10")
        let group = uniqueName("redis-lead")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lead-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                let lease = try await coordinator.campaign(for: g, wait: .never)
                #expect(try await coordinator.leader(of: g) == swiftMember)

                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.isLeader(group) == false)

                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                #expect(try await coordinator.leader(of: g) == nil)

                let elected = try await python.runWatchers()
                #expect(elected == [PythonPeer.Elected(group: group, member: pythonMember)])
                #expect(try await python.isLeader(group))

                // Now Python leads: Swift is kept out and cannot name the leader.
                await #expect {
                    try await coordinator.campaign(for: g, wait: .never)
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                #expect(try await coordinator.leader(of: g) == nil)
                // Further rounds keep Python leading and fire no second election.
                #expect(try await python.runWatchers() == elected)
                #expect(try await python.isLeader(group))

                let stoodDown = try await python.standDown(group)
                #expect(stoodDown.released)
                let lease2 = try await coordinator.campaign(for: g, wait: .upTo(.testPatience))
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await coordinator.standDown(from: g))
                #expect(lease2.state == .released)
            }
        }
    }

    // MARK: Key layout

    @Test("Swift writes the keys Python tooz reads, in tooz 9.1.0's layout, plus its own extra keys")
    func keyLayout() async throws {
        let ttlSeconds = 20
        let url = try InteropEnvironment.requireRedisURL("timeout=\(ttlSeconds)")
        let group = uniqueName("redis-layout")
        let lockName = uniqueName("redis-lock")
        let member = uniqueName("swift")
        let raw = try await RawRedis.connect(url: url)
        do {
            let coordinator = try Coordinator(url: url, member: MemberID(member))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                #expect(try await raw.integer("SISMEMBER", "_tooz_groups", group) == 1)
                #expect(try await raw.string("HGET", "_tooz_group:\(group)", "__created__") == "1")
                #expect(try await raw.integer("HLEN", "_tooz_group:\(group)") == 1)

                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                #expect(try await raw.bytes("HGET", "_tooz_group:\(group)", member) == OsloMsgPack.encode(GroupInteropTests.swiftCapabilities))
                #expect(try await raw.string("GET", "_tooz_beats:\(member)") == "Not dead!")
                let beatTTL = try await raw.integer("PTTL", "_tooz_beats:\(member)")
                #expect(beatTTL > 0 && beatTTL <= Int64(ttlSeconds) * 1000, "beat PTTL \(beatTTL)")

                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                let lockKey = "_tooz_\(lockName)_lock"
                #expect(try await raw.string("GET", lockKey) == "\(lease.grant.owner.token) \(member)")
                let lockTTL = try await raw.integer("PTTL", lockKey)
                #expect(lockTTL > 0 && lockTTL <= Int64(ttlSeconds) * 1000, "lock PTTL \(lockTTL)")
                #expect(try await raw.integer("GET", "_tooz_fencing") >= 1)
                #expect(try await lock.release())
                #expect(try await raw.integer("EXISTS", lockKey) == 0)

                let leadership = try await coordinator.campaign(for: g, wait: .never)
                let leaderKey = "_tooz_leader_of_\(group)_lock"
                #expect(try await raw.string("GET", leaderKey) == "\(leadership.grant.owner.token) \(member)")
                #expect(try await coordinator.standDown(from: g))
                #expect(try await raw.integer("EXISTS", leaderKey) == 0)

                try await coordinator.leave(g)
                #expect(try await raw.integer("HEXISTS", "_tooz_group:\(group)", member) == 0)
                try await coordinator.deleteGroup(g)
                #expect(try await raw.integer("EXISTS", "_tooz_group:\(group)") == 0)
                #expect(try await raw.integer("SISMEMBER", "_tooz_groups", group) == 0)
            }
            // Stopping deletes the beat key, as tooz's stop() does.
            #expect(try await raw.integer("EXISTS", "_tooz_beats:\(member)") == 0)
            await raw.close()
        } catch {
            await raw.close()
            throw error
        }
    }

    // MARK: Helpers

    /// Starts a Python peer on `url` as `member`, runs `body`, and always shuts the peer down.
    static func withPython<Result: Sendable>(
        _ label: String,
        url: String,
        member: String,
        _ body: (PythonPeer) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("redis-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: member)
                return try await body(python)
            }
        }
    }
}

/// A plain connection to the test server, for reading raw keys as Python tooz would.
struct RawRedis: Sendable {
    let client: RedisClient

    static func connect(url: String) async throws -> RawRedis {
        let (configuration, _) = try RedisConfiguration.make(url: BackendURL(url))
        let client = RedisClient(
            configuration: configuration, logger: Logger(label: "tooz.interop.raw", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await client.connect()
        return RawRedis(client: client)
    }

    func close() async { await client.close() }

    func reply(_ arguments: [String]) async throws -> RESPValue {
        try await client.request(RedisCommand(arguments[0], arguments: arguments.dropFirst().map { $0 as any RESPBulkConvertible }))
    }

    /// An integer reply, or the integer a bulk string holds (`GET` of a counter).
    func integer(_ arguments: String...) async throws -> Int64 {
        let value = try await reply(arguments)
        if case .integer(let number) = value { return number }
        if let text = value.string, let number = Int64(text) { return number }
        throw InteropSetupError("\(arguments.joined(separator: " ")) answered \(value), not an integer")
    }

    /// A string reply; `nil` for a missing key.
    func string(_ arguments: String...) async throws -> String? {
        let value = try await reply(arguments)
        if value.isNull { return nil }
        guard let text = value.string else {
            throw InteropSetupError("\(arguments.joined(separator: " ")) answered \(value), not a string")
        }
        return text
    }

    /// The bytes of a bulk string reply; `nil` for a missing key.
    func bytes(_ arguments: String...) async throws -> [UInt8]? {
        let value = try await reply(arguments)
        if value.isNull { return nil }
        guard case .bulkString(.some(let buffer)) = value else {
            throw InteropSetupError("\(arguments.joined(separator: " ")) answered \(value), not a bulk string")
        }
        return Array(buffer.readableBytesView)
    }
}
