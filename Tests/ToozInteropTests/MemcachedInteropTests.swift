import Synchronization
import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 (pymemcache 4.0.0) and swift-tooz on one real memcached
/// (`TOOZ_TEST_MEMCACHED_URL`): they share groups, capabilities and liveness, exclude each other
/// on locks and leadership, name each other as holders and leaders, and break each other's locks,
/// both ways.
///
/// The server is shared with other tests and runs, so every group, member and lock name is
/// unique, every test removes what it made, and every wait has a limit. Tests that wait for a
/// TTL set a short one (memcached counts whole seconds, and an item may go up to a second early,
/// so never under 3 s).
@Suite(
    "Interop: memcached with Python tooz", .requiresPythonTooz, .requiresMemcachedServer, .serialized,
    .timeLimit(.minutes(3))
)
struct MemcachedInteropTests {
    typealias Creator = ServerGroupInterop.Creator

    // MARK: Groups and capabilities

    @Test("Members, capabilities, updates and leaves are seen on both sides", arguments: Creator.allCases)
    func groupsAndCapabilities(creator: Creator) async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let group = uniqueName("mc-group")
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

    @Test("Group, member and lock names beyond ASCII are the same keys on both sides")
    func namesBeyondASCII() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let group = uniqueName("mc-grüppe")
        let lockName = uniqueName("mc-schloß")
        let swiftMember = uniqueName("swift-ünï")
        let pythonMember = uniqueName("py-日本")
        try await Self.withPython("unicode", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                #expect(try await python.groups().contains(group))
                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                try await python.joinGroup(group, capabilitiesLiteral: nil)
                // Python's get_members finds the Swift member's liveness key, and Swift Python's.
                #expect(try await python.members(of: group) == [swiftMember, pythonMember])
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])
                #expect(try await python.capabilities(of: swiftMember, in: group).repr == GroupInteropTests.swiftCapabilitiesRepr)

                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == MemberID(pythonMember))
                #expect(try await python.release(lockName))
                let lease = try #require(try await lock.tryAcquire())
                #expect(try await python.lockOwner(lockName) == swiftMember)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lease.release())

                try await python.leaveGroup(group)
                try await coordinator.leave(g)
                try await python.call("delete_group", ["group": .string(group)])
                #expect(try await !coordinator.groups().contains(g))
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    // MARK: Liveness

    @Test("A running Swift member is not pruned by Python's get_members over two membership TTLs")
    func runningSwiftMemberStays() async throws {
        // 5 s, not less: on a loaded 2-core machine a renewal can run a second late, and
        // memcached may drop an item up to a second before its TTL.
        let ttlSeconds = 5
        let url = try InteropEnvironment.requireMemcachedURL("timeout=\(ttlSeconds)")
        let group = uniqueName("mc-alive")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("alive", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                try await coordinator.join(g)
                try await python.joinGroup(group, capabilitiesLiteral: nil)

                // Every get_members prunes (and writes back without) members whose
                // `_TOOZ_MEMBER_` key is gone; Swift's must be set again well within the TTL
                // for the whole span.
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

    @Test("A killed Python member disappears from Swift's members once its _TOOZ_MEMBER_ key expires")
    func killedPythonMemberIsPruned() async throws {
        // Python beats every half TTL: 5 s leaves it 1.5 s of slack against memcached's clock.
        let pythonURL = try InteropEnvironment.requireMemcachedURL("timeout=5")
        let url = try InteropEnvironment.requireMemcachedURL()
        let group = uniqueName("mc-killed")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("killed", url: pythonURL, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                try await python.joinGroup(group, capabilitiesLiteral: "{'doomed': True}")
                try await coordinator.join(g)
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])
                #expect(try await python.memcachedItem("_TOOZ_MEMBER_\(pythonMember)")?.repr == #"b"It's alive!""#)

                // No stop(): the liveness key stays until its TTL runs out, and the group record
                // keeps the member until someone prunes it.
                try await python.kill()
                try await eventually("the killed Python member to be pruned from the members") {
                    try await coordinator.members(of: g) == [MemberID(swiftMember)]
                }
                // Pruned from the record too, not only hidden: its capabilities are gone.
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

    @Test("A Swift member that dies without leaving is pruned by Python's get_members once its key expires")
    func killedSwiftMemberIsPruned() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        // The doomed Swift member's TTL: its liveness key lives 3 to 4 s after its last beat.
        let swiftURL = try InteropEnvironment.requireMemcachedURL("timeout=4")
        let group = uniqueName("mc-killed-swift")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("killed-swift", url: url, member: pythonMember) { python in
            let (base, configuration) = try BackendFactory.makeBackend(url: swiftURL)
            let backend = CrashableBackend(base: base)
            let coordinator = try Coordinator(backend: backend, member: MemberID(swiftMember), configuration: configuration)
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                try await python.joinGroup(group, capabilitiesLiteral: nil)
                #expect(try await python.members(of: group) == [swiftMember, pythonMember])
                #expect(try await python.memcachedItem("_TOOZ_MEMBER_\(swiftMember)")?.repr == #"b"It's alive!""#)

                // From here on the Swift member writes nothing: no beat, no leave, as after a
                // kill -9 (its connection stays open, which a dead process's would not; no matter).
                backend.crash()
                try await eventually("Python's get_members to prune the dead Swift member") {
                    try await python.members(of: group) == [pythonMember]
                }
                #expect(try await python.memcachedItem("_TOOZ_MEMBER_\(swiftMember)") == nil)
                // get_members wrote the pruned record back: the member is gone from it.
                let record = try #require(try await python.memcachedItem("_TOOZ_GROUP_\(group)"))
                #expect(record.repr == "{b'\(pythonMember)': {b'capabilities': None}}")
                await #expect {
                    try await python.capabilities(of: swiftMember, in: group)
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "MemberNotJoined"
                }

                try await python.leaveGroup(group)
                try await python.call("delete_group", ["group": .string(group)])
                #expect(try await !python.groups().contains(group))
            }
        }
    }

    @Test("A Swift member that Python pruned while its beats failed re-joins, with its capabilities, once they succeed")
    func prunedSwiftMemberRejoins() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let swiftURL = try InteropEnvironment.requireMemcachedURL("timeout=4")
        let group = uniqueName("mc-rejoin")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("rejoin", url: url, member: pythonMember) { python in
            let (base, configuration) = try BackendFactory.makeBackend(url: swiftURL)
            let backend = CrashableBackend(base: base)
            let coordinator = try Coordinator(backend: backend, member: MemberID(swiftMember), configuration: configuration)
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                try await python.joinGroup(group, capabilitiesLiteral: nil)
                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                #expect(try await python.members(of: group) == [swiftMember, pythonMember])

                backend.crash()
                try await eventually("Python's get_members to prune the Swift member whose beats fail") {
                    try await python.members(of: group) == [pythonMember]
                }
                // The beats succeed again: the next one finds the record without us, and the
                // coordinator joins again with the capabilities it holds.
                backend.recover()
                try await eventually("the Swift member to re-join the group Python pruned it from") {
                    try await python.members(of: group) == [swiftMember, pythonMember]
                }
                let seen = try await python.capabilities(of: swiftMember, in: group)
                #expect(seen.repr == GroupInteropTests.swiftCapabilitiesRepr)
                #expect(seen.value == GroupInteropTests.swiftCapabilities)
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])

                try await coordinator.leave(g)
                try await python.leaveGroup(group)
                try await python.call("delete_group", ["group": .string(group)])
                #expect(try await !coordinator.groups().contains(g))
            }
        }
    }

    // MARK: Locks

    @Test("A Python holder keeps Swift out and is named by holder(); a waiting Swift acquire gets the lock once Python releases")
    func pythonHoldsLock() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let lockName = uniqueName("mc-lock")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-py", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                // tooz's memcached lock item holds the member id: Swift names the Python holder.
                #expect(try await lock.holder() == MemberID(pythonMember))
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
                #expect(try await python.lockOwner(lockName) == swiftMember.rawValue)

                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await python.lockOwner(lockName) == nil)
                #expect(try await python.tryAcquire(lockName))
                #expect(try await python.release(lockName))
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    @Test("A Swift holder keeps Python out and is named by get_owner(); a blocking Python acquire gets the lock once Swift releases")
    func swiftHoldsLock() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let lockName = uniqueName("mc-lock")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await python.lockOwner(lockName) == swiftMember.rawValue)

                #expect(try await python.tryAcquire(lockName) == false)
                let started = try await python.startBlockingAcquire(lockName)
                #expect(started.done == false)
                let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 1)
                #expect(meanwhile.done == false, "Python acquired \(lockName) while Swift held it: \(meanwhile)")

                #expect(try await lease.release())
                #expect(lease.state == .released)
                // tooz's memcached lock retries its add about once a second.
                let after = try await python.waitForBackgroundAcquire(lockName, seconds: 30)
                #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))

                // Python's hold is real: Swift is kept out, and names the holder.
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == MemberID(pythonMember))
                #expect(try await python.release(lockName))
                let again = try #require(try await lock.tryAcquire())
                // The fencing counter grows across acquisitions, whoever held in between.
                #expect(again.fencingToken > lease.fencingToken)
                #expect(try await lock.release())
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    @Test("Swift's breakLock frees a lock a Python member holds")
    func swiftBreaksPythonLock() async throws {
        let url = try InteropEnvironment.requireMemcachedURL()
        let lockName = uniqueName("mc-lock")
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
                // Python's release reads the item, finds another member id and deletes nothing.
                #expect(try await python.release(lockName) == false)
                #expect(try await lock.holder() == coordinator.member)
                #expect(try await lock.release())
                #expect(try await lock.breakLock() == false)
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    @Test("Python's lock_break turns a Swift lease lost (revoked) and cancels a withLock body")
    func pythonBreaksSwiftLock() async throws {
        // A 3 s item is certain to live 2 s, so the lease refreshes every 0.7 s or so and notices
        // the break quickly.
        let url = try InteropEnvironment.requireMemcachedURL("lock_timeout=3")
        let lockName = uniqueName("mc-lock")
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
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    @Test("A stalled Python holder whose lock expired neither releases nor revokes the Swift lease that took it over")
    func stalePythonHolder() async throws {
        // Python's lock item lives 4 s once its heart stops; Swift's lease counts on 3 s and
        // refreshes every second. The same TTL on both sides: a stale holder's touch sets the
        // item's TTL to its own lock_timeout, so a shorter one would cut Swift's item short.
        let url = try InteropEnvironment.requireMemcachedURL("lock_timeout=4")
        let lockName = uniqueName("mc-lock")
        try await Self.withPython("stale-py", url: url, member: uniqueName("py")) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))

                // Python stalls holding the lock: its heart stops touching the item, which
                // expires, and the waiting Swift acquire gets the lock.
                python.suspend()
                let lease: Lease
                do {
                    lease = try await lock.acquire(wait: .upTo(.testPatience))
                } catch {
                    python.resume()
                    throw error
                }
                let token = lease.fencingToken
                python.resume()

                // Python still counts the lock as its own. Its heart's touch (tooz touches
                // whatever is there) must not make Swift's CAS-compared refreshes fail, and its
                // release reads another member id and deletes nothing.
                #expect(try await python.isStillOwner(lockName) == false)
                // heartbeat() answers how soon it wants to run again: the shortest TTL, the lock's.
                #expect(try await python.call("heartbeat") == .number(4))
                #expect(try await python.release(lockName) == false)
                #expect(try await lock.holder() == swiftMember)
                // Swift keeps refreshing across the lock's TTL, then releases it.
                let span = ContinuousClock.now + .seconds(4)
                while ContinuousClock.now < span {
                    #expect(lease.state.isUsable, "the Swift lease was \(lease.state) after the stale Python holder woke up")
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await lock.release())
                #expect(lease.state == .released)

                // Python may hold it next; Swift's next token still exceeds the one it had.
                #expect(try await python.tryAcquire(lockName))
                let busy = try await lock.tryAcquire()
                #expect(busy == nil)
                #expect(try await python.release(lockName))
                let next = try #require(try await lock.tryAcquire())
                #expect(next.fencingToken > token)
                #expect(try await lock.release())
                try await Self.removeFencingCounters(python, locks: [lockName])
            }
        }
    }

    // MARK: Leadership

    @Test("A Python leader keeps Swift out and is named by leader(of:); when it stands down a waiting Swift campaign wins")
    func pythonLeadsFirst() async throws {
        let url = try InteropEnvironment.requireMemcachedURL("timeout=10")
        let group = uniqueName("mc-lead")
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
                // The leader item holds the member id: Swift names the Python leader.
                #expect(try await coordinator.leader(of: g) == MemberID(pythonMember))
                #expect(try await python.leader(of: group) == pythonMember)
                #expect(coordinator.currentLeadership(of: g) == nil)

                async let campaign = coordinator.campaign(for: g, wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                let stoodDown = try await python.standDown(group)
                #expect(stoodDown == PythonPeer.StandDown(unwatched: true, released: true, how: "leader_lock"))
                let lease = try await campaign
                #expect(lease.state == .held)
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.leader(of: group) == swiftMember.rawValue)
                #expect(try await python.isLeader(group) == false)

                // While Swift leads, Python's rounds elect nobody.
                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.runWatchers() == [PythonPeer.Elected(group: group, member: pythonMember)])
                #expect(try await python.isLeader(group) == false)

                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                #expect(try await python.leader(of: group) == nil)
                _ = try await python.standDown(group)
                try await Self.removeFencingCounters(python, leaderships: [group])
            }
        }
    }

    @Test("A Swift leader keeps Python out and is named by get_leader; when it stands down Python's run_watchers elects Python")
    func swiftLeadsFirst() async throws {
        let url = try InteropEnvironment.requireMemcachedURL("timeout=10")
        let group = uniqueName("mc-lead")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lead-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                let lease = try await coordinator.campaign(for: g, wait: .never)
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.leader(of: group) == swiftMember.rawValue)

                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.isLeader(group) == false)

                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                #expect(try await coordinator.leader(of: g) == nil)
                #expect(try await python.leader(of: group) == nil)

                let elected = try await python.runWatchers()
                #expect(elected == [PythonPeer.Elected(group: group, member: pythonMember)])
                #expect(try await python.isLeader(group))

                // Now Python leads: Swift is kept out and names it.
                await #expect {
                    try await coordinator.campaign(for: g, wait: .never)
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                #expect(try await coordinator.leader(of: g) == MemberID(pythonMember))
                // Further rounds keep Python leading and fire no second election.
                #expect(try await python.runWatchers() == elected)
                #expect(try await python.isLeader(group))

                let stoodDown = try await python.standDown(group)
                #expect(stoodDown.released)
                // withLeadership: Python sees the Swift leader while the body runs, and nobody after.
                let seenByPython = try await coordinator.withLeadership(of: g) { lease in
                    #expect(lease.state == .held)
                    return try await python.leader(of: group)
                }
                #expect(seenByPython == swiftMember.rawValue)
                #expect(try await python.leader(of: group) == nil)
                #expect(try await coordinator.leader(of: g) == nil)
                try await Self.removeFencingCounters(python, leaderships: [group])
            }
        }
    }

    // MARK: Key layout

    @Test("Swift writes the items Python tooz reads, in tooz 9.1.0's layout and pymemcache's flags, plus its fencing counters")
    func keyLayout() async throws {
        let ttlSeconds = 20
        let url = try InteropEnvironment.requireMemcachedURL("timeout=\(ttlSeconds)")
        let group = uniqueName("mc-layout")
        let lockName = uniqueName("mc-lock")
        let member = uniqueName("swift")
        try await Self.withPython("layout", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(member))
            try await coordinator.withRunning {
                let g = GroupID(group)
                let groupKey = "_TOOZ_GROUP_\(group)"
                try await coordinator.createGroup(g)
                let created = try #require(try await python.memcachedItem(groupKey))
                #expect(created == PythonPeer.MemcachedItem(value: OsloMsgPack.encode(.map([])), flags: 2, ttl: -1, repr: "{}"))
                let list = try #require(try await python.memcachedItem("_TOOZ_GROUP_LIST"))
                #expect(list.flags == 2)
                #expect(list.repr.hasPrefix("[") && list.repr.contains("b'\(group)'"), "the group list: \(list.repr)")

                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                let joined = try #require(try await python.memcachedItem(groupKey))
                // Member ids and the `capabilities` key are msgpack bin, as Python's bytes are.
                let record: MessagePackValue = .map([
                    MessagePackMapEntry(
                        .binary(Array(member.utf8)),
                        .map([MessagePackMapEntry(.binary(Array("capabilities".utf8)), GroupInteropTests.swiftCapabilities)])
                    )
                ])
                #expect(joined.flags == 2)
                #expect(joined.value == OsloMsgPack.encode(record))
                #expect(joined.repr == "{b'\(member)': {b'capabilities': \(GroupInteropTests.swiftCapabilitiesRepr)}}")
                #expect(joined.ttl == -1)
                let beat = try #require(try await python.memcachedItem("_TOOZ_MEMBER_\(member)"))
                #expect(beat.value == Array("It's alive!".utf8))
                #expect(beat.flags == 1)
                let beatTTL = try #require(beat.ttl)
                // One second over membership_timeout: memcached's clock may take a second off.
                #expect(beatTTL > ttlSeconds - 1 && beatTTL <= ttlSeconds + 1, "liveness TTL \(beatTTL)")

                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                let lockKey = "__TOOZ_LOCK_\(lockName)"
                let held = try #require(try await python.memcachedItem(lockKey))
                #expect(held.value == Array(member.utf8))
                #expect(held.flags == 1)
                #expect(held.repr == "b'\(member)'")
                let lockTTL = try #require(held.ttl)
                #expect(lockTTL > 0 && lockTTL <= ttlSeconds, "lock TTL \(lockTTL)")
                // Ours only: the fencing counter, a decimal that no TTL ends, read back as the token.
                let fence = try #require(try await python.memcachedItem("_TOOZ_FENCE_\(lockKey)"))
                #expect(fence.value == Array(String(lease.fencingToken.value).utf8))
                #expect(fence.flags == 0)
                #expect(fence.ttl == -1)
                #expect(try await lock.release())
                #expect(try await python.memcachedItem(lockKey) == nil)

                let leadership = try await coordinator.campaign(for: g, wait: .never)
                let leaderKey = "__TOOZ_LOCK__TOOZ_GROUP_LEADER_\(group)"
                let leader = try #require(try await python.memcachedItem(leaderKey))
                #expect(leader.value == Array(member.utf8))
                #expect(leader.flags == 1)
                let leaderFence = try #require(try await python.memcachedItem("_TOOZ_FENCE_\(leaderKey)"))
                #expect(leaderFence.value == Array(String(leadership.fencingToken.value).utf8))
                #expect(try await coordinator.standDown(from: g))
                #expect(try await python.memcachedItem(leaderKey) == nil)

                try await coordinator.leave(g)
                let left = try #require(try await python.memcachedItem(groupKey))
                #expect(left.value == OsloMsgPack.encode(.map([])))
                try await coordinator.deleteGroup(g)
                #expect(try await python.memcachedItem(groupKey) == nil)
                #expect(try await !(python.memcachedItem("_TOOZ_GROUP_LIST")?.repr.contains("b'\(group)'") ?? false))

                try await Self.removeFencingCounters(python, locks: [lockName], leaderships: [group])
            }
            // Stopping deletes the liveness key, as tooz's stop() does.
            #expect(try await python.memcachedItem("_TOOZ_MEMBER_\(member)") == nil)
        }
    }

    // MARK: Helpers

    /// Deletes the fencing counters of `locks` and of the leaderships of `leaderships`, which
    /// no release removes (they must outlive the lock), and checks that each was there.
    static func removeFencingCounters(
        _ python: PythonPeer, locks: [String] = [], leaderships: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let keys = locks.map { "_TOOZ_FENCE___TOOZ_LOCK_\($0)" } + leaderships.map { "_TOOZ_FENCE___TOOZ_LOCK__TOOZ_GROUP_LEADER_\($0)" }
        let removed = try await python.call("memcached_delete", ["keys": .array(keys.map { .string($0) })])
        #expect(removed.strings == keys, "fencing counters found and removed", sourceLocation: sourceLocation)
    }

    /// Starts a Python peer on `url` as `member`, runs `body`, and always shuts the peer down.
    static func withPython<Result: Sendable>(
        _ label: String,
        url: String,
        member: String,
        _ body: (PythonPeer) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("memcached-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: member)
                return try await body(python)
            }
        }
    }
}

/// A real backend that dies on demand: after ``crash()`` it writes nothing more (no beat, no
/// join, no leave, no refresh, no release), as a member killed with SIGKILL, so its liveness key
/// and its entries stay until they expire or a peer prunes them. ``recover()`` lets requests
/// through again.
final class CrashableBackend: ForwardingBackend, Sendable {
    let base: any CoordinationBackend
    private let crashed = Atomic(false)

    init(base: any CoordinationBackend) { self.base = base }

    func crash() { crashed.store(true, ordering: .sequentiallyConsistent) }

    /// Lets requests through again, as a member whose network came back.
    func recover() { crashed.store(false, ordering: .sequentiallyConsistent) }

    private func ensureAlive(_ what: String) throws {
        if crashed.load(ordering: .sequentiallyConsistent) { throw ToozError(.connectionFailed, "\(what): this member has crashed") }
    }

    func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        try ensureAlive("heartbeat")
        return try await base.heartbeat(member: member, groups: groups)
    }
    func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        try ensureAlive("join")
        try await base.join(group, member: member, capabilities: capabilities)
    }
    func leave(_ group: GroupID, member: MemberID) async throws {
        try ensureAlive("leave")
        try await base.leave(group, member: member)
    }
    func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try ensureAlive("updateCapabilities")
        try await base.updateCapabilities(capabilities, of: member, in: group)
    }
    func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        try ensureAlive("refresh")
        return try await base.refresh(key, grant: grant, ttl: ttl)
    }
    func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        try ensureAlive("release")
        return try await base.release(key, grant: grant)
    }
}
