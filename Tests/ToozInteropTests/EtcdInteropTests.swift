import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 (etcd3gw 2.7.0, through etcd's JSON gateway) and swift-tooz (etcd's native
/// gRPC) on one real etcd (`TOOZ_TEST_ETCD_URL`): they share groups, capabilities and liveness,
/// and exclude each other on locks, both ways.
///
/// What the two cannot share, and the tests pin down: Python's lock value is 16 random bytes, so
/// Swift's `holder()` of a Python-held lock is `nil`; Python's etcd3gw driver has no leader
/// election (`get_leader` raises `NotImplemented`), so Swift's leaders, at `/tooz/leaders/<g>`,
/// are Swift's alone; and Python's `get_groups` lists member keys as junk groups
/// (`tooz/groups/g/member` gives `g/membe`), which Swift's `groups()` does not.
///
/// The server is shared with other tests and runs, so every group, member and lock name is
/// unique, every test removes what it made, and every wait has a limit. Tests that wait for a
/// lease to expire give the dying side a short TTL.
@Suite(
    "Interop: etcd with Python tooz", .requiresPythonTooz, .requiresEtcdServer, .serialized,
    .timeLimit(.minutes(3))
)
struct EtcdInteropTests {
    typealias Creator = ServerGroupInterop.Creator

    // MARK: Groups and capabilities

    @Test("Members, capabilities, updates and leaves are seen on both sides; Python's get_groups junk is not Swift's", arguments: Creator.allCases)
    func groupsAndCapabilities(creator: Creator) async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let group = uniqueName("etcd-group")
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

                // Only the Swift member is left. Python's get_groups returns every key under
                // `tooz/groups/` minus the prefix and its last byte: the placeholder gives the
                // group, and the Swift member's key a junk entry `<g>/<member minus its last
                // character>`. Swift's groups() lists placeholders only.
                let junk = "\(group)/\(swiftMember.dropLast())"
                #expect(try await Self.pythonGroups(python, startingWith: group) == [group, junk])
                #expect(try await Self.swiftGroups(coordinator, startingWith: group) == [g])

                try await coordinator.leave(g)
                #expect(try await python.members(of: group) == [])
                #expect(try await coordinator.members(of: g) == [])
                // No member key, no junk.
                #expect(try await Self.pythonGroups(python, startingWith: group) == [group])

                // The creator deletes it; it is gone for both (which also proves both left).
                switch creator {
                case .swift: try await coordinator.deleteGroup(g)
                case .python: try await python.call("delete_group", ["group": .string(group)])
                }
                #expect(try await !coordinator.groups().contains(g))
                #expect(try await !python.groups().contains(group))
                #expect(try await python.etcdKeyValue("tooz/groups/\(group)/") == nil)
            }
        }
    }

    @Test("With both members joined, Python's get_groups lists a junk entry per member and Swift's groups() the group once")
    func groupListingsWithBothMembers() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let group = uniqueName("etcd-list")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("list", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                try await python.joinGroup(group, capabilitiesLiteral: nil)
                try await coordinator.join(g)

                let pythonSees = try await Self.pythonGroups(python, startingWith: group)
                // Contained, as the tooz contract says; the rest is the driver's bug.
                #expect(pythonSees.contains(group))
                #expect(pythonSees == [group, "\(group)/\(swiftMember.dropLast())", "\(group)/\(pythonMember.dropLast())"])
                #expect(try await Self.swiftGroups(coordinator, startingWith: group) == [g])
                #expect(try await coordinator.groups().contains(g))

                try await coordinator.leave(g)
                try await python.leaveGroup(group)
                try await coordinator.deleteGroup(g)
                #expect(try await Self.pythonGroups(python, startingWith: group) == [])
                #expect(try await Self.swiftGroups(coordinator, startingWith: group) == [])
            }
        }
    }

    // MARK: Swift writes what Python reads, and back

    @Test("Swift writes the keys Python tooz reads, in etcd3gw's layout; Python's keys read back on Swift")
    func swiftWritesWhatPythonReads() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let group = uniqueName("etcd-layout")
        let lockName = uniqueName("etcd-lock")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("layout", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                let groupKey = "tooz/groups/\(group)/"
                try await coordinator.createGroup(g)
                // The placeholder: no leading slash, a trailing one, its own bytes as the value,
                // and no lease (a group outlives its creator).
                let placeholder = try #require(try await python.etcdKeyValue(groupKey))
                #expect(placeholder.value == Array(groupKey.utf8))
                #expect(placeholder.lease == "0")
                #expect(try await python.groups().contains(group))
                // Python's join compares the placeholder's version: a Swift-made group takes it.
                try await python.joinGroup(group, capabilitiesLiteral: GroupInteropTests.pythonCapabilitiesLiteral)

                // Swift joins: Python reads the capabilities exactly, from msgpack on the member key.
                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                let swiftSeenByPython = try await python.capabilities(of: swiftMember, in: group)
                #expect(swiftSeenByPython.repr == GroupInteropTests.swiftCapabilitiesRepr)
                #expect(swiftSeenByPython.value == GroupInteropTests.swiftCapabilities)
                let swiftKey = try #require(try await python.etcdKeyValue("\(groupKey)\(swiftMember)"))
                #expect(swiftKey.value == OsloMsgPack.encode(GroupInteropTests.swiftCapabilities))
                #expect(swiftKey.lease != "0", "the Swift member key rides on no lease")

                // Python joined: Swift reads its capabilities exactly; its key is on the
                // membership lease.
                #expect(try await coordinator.capabilities(of: MemberID(pythonMember), in: g) == GroupInteropTests.pythonCapabilities)
                let pythonKey = try #require(try await python.etcdKeyValue("\(groupKey)\(pythonMember)"))
                #expect(pythonKey.lease == (try await python.etcdMembershipLease()))
                #expect(pythonKey.lease != swiftKey.lease)

                // A Swift lock: `/tooz/locks<name>`, the member id, a NUL and the owner token as its value, on the same
                // session lease as the member key, and its create revision as the fencing token.
                let lockKey = "/tooz/locks\(lockName)"
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                let held = try #require(try await python.etcdKeyValue(lockKey))
                #expect(held.value.prefix { $0 != 0 } == ArraySlice(swiftMember.utf8))
                #expect(held.value.count == swiftMember.utf8.count + 1 + 32)
                #expect(held.lease == swiftKey.lease)
                #expect(lease.fencingToken.value == UInt64(held.createRevision))
                #expect(try await lock.release())
                #expect(try await python.etcdKeyValue(lockKey) == nil)

                // Leadership is Swift's alone: `/tooz/leaders/<g>`, outside `tooz/groups/`, so
                // Python's get_groups does not list it, and Python's driver cannot name a leader.
                let leadership = try await coordinator.campaign(for: g, wait: .never)
                let leaderKey = try #require(try await python.etcdKeyValue("/tooz/leaders/\(group)"))
                #expect(leaderKey.value.prefix { $0 != 0 } == ArraySlice(swiftMember.utf8))
                #expect(leadership.fencingToken.value == UInt64(leaderKey.createRevision))
                #expect(
                    try await Self.pythonGroups(python, startingWith: group)
                        == [group, "\(group)/\(swiftMember.dropLast())", "\(group)/\(pythonMember.dropLast())"]
                )
                #expect(try await Self.swiftGroups(coordinator, startingWith: group) == [g])
                await #expect {
                    try await python.leader(of: group)
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "NotImplemented"
                }
                #expect(try await coordinator.standDown(from: g))
                #expect(try await python.etcdKeyValue("/tooz/leaders/\(group)") == nil)

                // Leaves on either side are reads on the other.
                try await coordinator.leave(g)
                await #expect {
                    try await python.capabilities(of: swiftMember, in: group)
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "MemberNotJoined"
                }
                try await python.leaveGroup(group)
                await #expect {
                    try await coordinator.capabilities(of: MemberID(pythonMember), in: g)
                } throws: { error in
                    (error as? ToozError)?.code == .memberNotJoined
                }
                try await python.call("delete_group", ["group": .string(group)])
                #expect(try await python.etcdKeyValue(groupKey) == nil)
                #expect(try await !coordinator.groups().contains(g))
            }
        }
    }

    // MARK: Locks

    @Test("A Python holder keeps Swift out (holder() is nil: its value is random bytes); a waiting Swift acquire gets the lock once Python releases")
    func pythonHoldsLock() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let lockName = uniqueName("etcd-lock")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-py", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                // Same key on both sides; Python's value is `uuid4().bytes`, on a lease of its
                // own per acquisition (not the membership lease).
                let pythonHeld = try #require(try await python.etcdKeyValue("/tooz/locks\(lockName)"))
                #expect(pythonHeld.value.count == 16)
                #expect(pythonHeld.lease != "0")
                #expect(pythonHeld.lease != (try await python.etcdMembershipLease()))

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                // Python's lock value is 16 random bytes, not a member id: Swift cannot name the
                // holder and says nil (it reads only values in its own format: the member id, a
                // NUL and a 32-digit hex owner token).
                #expect(try await lock.holder() == nil)
                await #expect {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        Issue.record("the body ran while Python held \(lockName)")
                    }
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }

                // Python's release deletes the key (its value still compares); the waiter
                // gets the lock.
                async let waited = lock.acquire(wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await python.release(lockName))
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                let swiftHeld = try #require(try await python.etcdKeyValue("/tooz/locks\(lockName)"))
                #expect(swiftHeld.value.prefix { $0 != 0 } == ArraySlice(swiftMember.rawValue.utf8))
                #expect(lease.fencingToken.value == UInt64(swiftHeld.createRevision))

                // Swift holds: Python is kept out, and gets it once Swift releases.
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(lease.state == .released)
                #expect(try await python.etcdKeyValue("/tooz/locks\(lockName)") == nil)
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await python.release(lockName))
                #expect(try await python.etcdKeyValue("/tooz/locks\(lockName)") == nil)
            }
        }
    }

    @Test("A Swift holder keeps Python out; a blocking Python acquire gets the lock once Swift releases")
    func swiftHoldsLock() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let lockName = uniqueName("etcd-lock")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                #expect(try await lock.holder() == swiftMember)
                // Python's acquire(blocking=False): the create_revision == 0 txn fails.
                #expect(try await python.tryAcquire(lockName) == false)
                // etcd3gw has no get_owner.
                await #expect {
                    try await python.lockOwner(lockName)
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "NotImplemented"
                }

                let started = try await python.startBlockingAcquire(lockName)
                #expect(started.done == false)
                let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 1)
                #expect(meanwhile.done == false, "Python acquired \(lockName) while Swift held it: \(meanwhile)")

                #expect(try await lease.release())
                #expect(lease.state == .released)
                // etcd3gw retries its txn with a backoff of at most a second.
                let after = try await python.waitForBackgroundAcquire(lockName, seconds: 30)
                #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))

                // Python's hold is real: Swift is kept out, and cannot name the holder.
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == nil)
                #expect(try await python.release(lockName))
                let again = try #require(try await lock.tryAcquire())
                // The fencing token is the key's create revision: it grows across holders.
                #expect(again.fencingToken > lease.fencingToken)
                #expect(try await lock.release())
                #expect(try await python.etcdKeyValue("/tooz/locks\(lockName)") == nil)
            }
        }
    }

    @Test("Swift's breakLock frees a Python-held lock; Python's stale release then deletes nothing")
    func swiftBreaksPythonLock() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        let lockName = uniqueName("etcd-lock")
        try await Self.withPython("break-py", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.breakLock())
                let lease = try #require(try await lock.tryAcquire(), "Swift could not take \(lockName) after breaking it")
                #expect(lease.state == .held)

                // Python's release compares the key's value with its own random bytes: it finds
                // Swift's member id and deletes nothing.
                #expect(try await python.release(lockName) == false)
                #expect(try await lock.holder() == coordinator.member)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await lock.breakLock() == false)
                #expect(try await python.etcdKeyValue("/tooz/locks\(lockName)") == nil)
            }
        }
    }

    @Test("Python's break_ turns a Swift lease lost; Swift's release then leaves the next Python holder's key alone")
    func pythonBreaksSwiftLock() async throws {
        // A 3 s session lease: the lock refreshes (and reads its key) about every second.
        let url = try InteropEnvironment.requireEtcdURL("lock_timeout=3")
        let pythonURL = try InteropEnvironment.requireEtcdURL()
        let lockName = uniqueName("etcd-lock")
        try await Self.withPython("break-swift", url: pythonURL, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                #expect(try await python.breakLock(lockName))
                try await eventually("the Swift lease to be lost after Python broke \(lockName) (now \(lease.state))") {
                    !lease.state.isUsable
                }
                #expect(lease.state == .lost(.revoked))

                // A lost lease is never silently re-acquired: the lock is free for Python, and
                // Swift's release does not delete Python's key (its create revision differs).
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.release() == false)
                #expect(try await lease.release() == false)
                let pythonHeld = try #require(try await python.etcdKeyValue("/tooz/locks\(lockName)"))
                #expect(pythonHeld.value.count == 16)
                #expect(try await python.release(lockName))
                #expect(try await python.etcdKeyValue("/tooz/locks\(lockName)") == nil)
            }
        }
    }

    // MARK: Liveness

    @Test("A killed Python member drops out of Swift's members once its membership lease expires, and its lock frees with its lock lease")
    func killedPythonMemberExpires() async throws {
        // Python beats every half of the shorter of its two TTLs; 4 s leaves it 2 s of slack
        // on a loaded machine before the kill, and keeps the wait after it short.
        let pythonURL = try InteropEnvironment.requireEtcdURL("membership_timeout=4&lock_timeout=4")
        let url = try InteropEnvironment.requireEtcdURL()
        let group = uniqueName("etcd-killed")
        let lockName = uniqueName("etcd-lock")
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
                #expect(
                    try await coordinator.capabilities(of: MemberID(pythonMember), in: g)
                        == .map([MessagePackMapEntry("doomed", .bool(true))])
                )
                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)

                // No stop(): nothing is deleted or revoked; etcd drops the member key when the
                // membership lease runs out, and the lock key with its own lease.
                try await python.kill()
                try await eventually("the killed Python member's key to expire from the group") {
                    try await coordinator.members(of: g) == [MemberID(swiftMember)]
                }
                await #expect {
                    try await coordinator.capabilities(of: MemberID(pythonMember), in: g)
                } throws: { error in
                    (error as? ToozError)?.code == .memberNotJoined
                }
                let lease = try await lock.acquire(wait: .upTo(.testPatience))
                #expect(lease.state == .held)
                #expect(try await lock.holder() == MemberID(swiftMember))
                #expect(try await lock.release())

                // The placeholder has no lease: the group stays for Swift to delete.
                #expect(try await coordinator.groups().contains(g))
                try await coordinator.leave(g)
                try await coordinator.deleteGroup(g)
                #expect(try await !coordinator.groups().contains(g))
            }
        }
    }

    @Test("A Swift member that dies without leaving drops out of Python's get_members once its session lease expires")
    func killedSwiftMemberExpires() async throws {
        let url = try InteropEnvironment.requireEtcdURL()
        // The doomed Swift member's session lease: 3 s.
        let swiftURL = try InteropEnvironment.requireEtcdURL("membership_timeout=3")
        let group = uniqueName("etcd-killed-swift")
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

                // From here on the Swift member keeps nothing alive: no beat (the keepalive),
                // no leave, as after a kill -9.
                backend.crash()
                try await eventually("the dead Swift member's key to expire from Python's get_members") {
                    try await python.members(of: group) == [pythonMember]
                }
                #expect(try await python.etcdKeyValue("tooz/groups/\(group)/\(swiftMember)") == nil)
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

    // MARK: Helpers

    /// Python's `get_groups()` entries that start with `group` (a unique name, so only this
    /// test's group and the junk its member keys make).
    static func pythonGroups(_ python: PythonPeer, startingWith group: String) async throws -> Set<String> {
        try await python.groups().filter { $0.hasPrefix(group) }
    }

    /// Swift's `groups()` that start with `group`.
    static func swiftGroups(_ coordinator: Coordinator, startingWith group: String) async throws -> Set<GroupID> {
        try await coordinator.groups().filter { $0.rawValue.hasPrefix(group) }
    }

    /// Starts a Python peer on `url` as `member`, runs `body`, and always shuts the peer down.
    static func withPython<Result: Sendable>(
        _ label: String,
        url: String,
        member: String,
        _ body: (PythonPeer) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("etcd-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: member)
                return try await body(python)
            }
        }
    }
}
