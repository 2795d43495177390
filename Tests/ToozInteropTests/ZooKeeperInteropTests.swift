import Foundation
import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 (kazoo 2.11.0) and swift-tooz on one real ZooKeeper server
/// (`TOOZ_TEST_ZOOKEEPER_URL`): they share groups, capabilities and session liveness, and exclude
/// each other on locks and leadership through kazoo's lock recipe, both ways.
///
/// The server is shared with other tests and runs, so every group, member and lock name is
/// unique, every test removes what it made, and every wait has a limit. The Python peer's own
/// kazoo client reads the raw znodes where a test needs to see the layout both sides rely on.
@Suite(
    "Interop: ZooKeeper with Python tooz", .requiresPythonTooz, .requiresZooKeeperServer, .serialized,
    .timeLimit(.minutes(3))
)
struct ZooKeeperInteropTests {
    typealias Creator = ServerGroupInterop.Creator

    /// tooz's namespace, the default of both sides.
    static let root = "/tooz"

    // MARK: Groups and capabilities

    @Test("Members, capabilities, updates and leaves are seen on both sides", arguments: Creator.allCases)
    func groupsAndCapabilities(creator: Creator) async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-group")
        let swiftMember = uniqueName("swift")
        let pythonMember = uniqueName("py")
        try await Self.withPython("groups", url: url, member: pythonMember) { python in
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: MemberID(swiftMember))
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await ServerGroupInterop.membersCapabilitiesUpdatesAndLeaves(
                    creator: creator, coordinator: coordinator, python: python,
                    group: group, swiftMember: swiftMember, pythonMember: pythonMember
                )
                try await python.joinGroup(group, capabilitiesLiteral: nil)

                // A Swift campaign puts kazoo's persistent `/tooz/<g>/leader` node under the group.
                // tooz's get_members lists every child, so Python sees a `leader` "member" (tooz
                // 9.1.0's own election does the same); Swift never counts it as one.
                let leadership = try await coordinator.campaign(for: g, wait: .never)
                #expect(try await python.leader(of: group) == swiftMember)
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])
                #expect(Set(try await coordinator.membersWithCapabilities(of: g).keys) == [MemberID(swiftMember), MemberID(pythonMember)])
                #expect(try await python.members(of: group) == [swiftMember, pythonMember, "leader"])
                #expect(try await coordinator.standDown(from: g))
                #expect(leadership.state == .released)
                #expect(try await python.leader(of: group) == nil)
                // The node stays after the campaign: a kazoo Lock ensures its parent path once and
                // then creates children under it, so removing the node would break the next
                // election of any Python member that ever ran in the group.
                #expect(try await python.zooKeeperChildren("\(Self.root)/\(group)/leader") == [])
                #expect(try await coordinator.members(of: g) == [MemberID(swiftMember), MemberID(pythonMember)])
                #expect(try await python.members(of: group) == [swiftMember, pythonMember, "leader"])

                try await python.leaveGroup(group)
                try await coordinator.leave(g)
                #expect(try await coordinator.members(of: g) == [])
                #expect(try await python.members(of: group) == ["leader"])

                // tooz cannot delete a group with the leader node in it; Swift can, whoever made it.
                await #expect {
                    try await python.call("delete_group", ["group": .string(group)])
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "GroupNotEmpty"
                }
                try await coordinator.deleteGroup(g)
                #expect(try await !coordinator.groups().contains(g))
                #expect(try await !python.groups().contains(group))
                #expect(try await python.zooKeeperNode("\(Self.root)/\(group)") == nil)
            }
        }
    }

    @Test("Groups without a leader node are deleted by their creator on either side", arguments: Creator.allCases)
    func createAndDeleteGroup(creator: Creator) async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-delete")
        try await Self.withPython("delete", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                let g = GroupID(group)
                switch creator {
                case .swift: try await coordinator.createGroup(g)
                case .python: try await python.createGroup(group)
                }
                // Each side refuses to create it again, with tooz's error.
                await #expect {
                    try await coordinator.createGroup(g)
                } throws: { error in
                    (error as? ToozError)?.code == .groupAlreadyExists
                }
                await #expect {
                    try await python.createGroup(group)
                } throws: { error in
                    (error as? PythonPeer.RemoteError)?.type == "GroupAlreadyExist"
                }
                // A member blocks deletion on both sides.
                try await python.joinGroup(group, capabilitiesLiteral: nil)
                await #expect {
                    try await coordinator.deleteGroup(g)
                } throws: { error in
                    (error as? ToozError)?.code == .groupNotEmpty
                }
                try await python.leaveGroup(group)
                switch creator {
                case .swift: try await python.call("delete_group", ["group": .string(group)])
                case .python: try await coordinator.deleteGroup(g)
                }
                #expect(try await !coordinator.groups().contains(g))
                #expect(try await !python.groups().contains(group))
            }
        }
    }

    // MARK: Liveness

    @Test("A killed Python member's session ends: its member node goes and a waiting Swift acquire gets its lock")
    func killedPythonMemberIsGone() async throws {
        // The Python session times out after 4 s; Swift keeps the default 10 s.
        let pythonURL = try InteropEnvironment.requireZooKeeperURL("timeout=4")
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-killed")
        let lockName = uniqueName("zk-lock")
        let swiftMember = MemberID(uniqueName("swift"))
        let pythonMember = uniqueName("py")
        try await Self.withPython("killed", url: pythonURL, member: pythonMember) { python in
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                try await python.joinGroup(group, capabilitiesLiteral: "{'doomed': True}")
                try await coordinator.join(g)
                #expect(try await coordinator.members(of: g) == [swiftMember, MemberID(pythonMember)])
                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.holder() == MemberID(pythonMember))

                // No stop(): the session, and with it every ephemeral node of the peer, lives
                // until the server expires it.
                async let waited = lock.acquire(wait: .upTo(.seconds(40)))
                try await python.kill()
                try await eventually("the server to expire the killed Python member's session") {
                    try await coordinator.members(of: g) == [swiftMember]
                }
                await #expect {
                    try await coordinator.capabilities(of: MemberID(pythonMember), in: g)
                } throws: { error in
                    (error as? ToozError)?.code == .memberNotJoined
                }
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await lock.release())

                try await coordinator.leave(g)
                try await coordinator.deleteGroup(g)
            }
        }
    }

    // MARK: Locks

    @Test("A Python holder keeps Swift out and is named; a waiting Swift acquire gets the lock once Python releases")
    func pythonHoldsLock() async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let lockName = uniqueName("zk-lock")
        let lockPath = "\(Self.root)/locks/\(lockName)"
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-py", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                // The contender node's data is the member id, so the holder can be named.
                #expect(try await lock.holder() == MemberID(pythonMember))
                // A non-blocking attempt that lost leaves no contender node behind.
                #expect(try await python.zooKeeperChildren(lockPath)?.count == 1)
                await #expect {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        Issue.record("the body ran while Python held \(lockName)")
                    }
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                #expect(try await python.zooKeeperChildren(lockPath)?.count == 1)

                // The waiter watches its predecessor: Python's delete wakes it.
                async let waited = lock.acquire(wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await python.release(lockName))
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)

                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await python.zooKeeperChildren(lockPath)?.count == 1)
                #expect(try await lock.release())
                #expect(lease.state == .released)
                #expect(try await python.zooKeeperChildren(lockPath) == [])
                #expect(try await python.tryAcquire(lockName))
                #expect(try await python.release(lockName))
            }
        }
    }

    @Test("A Swift holder keeps Python out; a blocking Python acquire gets the lock once Swift releases")
    func swiftHoldsLock() async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let lockName = uniqueName("zk-lock")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lock-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: swiftMember)
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

                // Python's hold is real: Swift is kept out and names the holder.
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == MemberID(pythonMember))
                #expect(try await python.release(lockName))
                let again = try #require(try await lock.tryAcquire())
                // The fencing token (the node's czxid) grows across acquisitions, whoever held in between.
                #expect(again.fencingToken > lease.fencingToken)
                #expect(try await lock.release())
                #expect(try await lock.holder() == nil)
            }
        }
    }

    // MARK: Leadership

    @Test("A Python leader keeps Swift out and is named; when it stands down a waiting Swift campaign wins")
    func pythonLeadsFirst() async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-lead")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lead-py", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await python.createGroup(group)
                let first = try await python.volunteer(group)
                let pythonElected = PythonPeer.Elected(group: group, member: pythonMember)
                #expect(first == PythonPeer.Volunteering(elected: true, events: [pythonElected]))
                #expect(try await python.isLeader(group))

                await #expect {
                    try await coordinator.campaign(for: g, wait: .never)
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                #expect(try await coordinator.leader(of: g) == MemberID(pythonMember))
                #expect(coordinator.currentLeadership(of: g) == nil)
                // The lost campaign left no contender behind: Python's node is the only one.
                #expect(try await python.zooKeeperChildren("\(Self.root)/\(group)/leader")?.count == 1)

                async let campaign = coordinator.campaign(for: g, wait: .upTo(.testPatience))
                try await Task.sleep(for: .milliseconds(300))
                let stoodDown = try await python.standDown(group)
                #expect(stoodDown == PythonPeer.StandDown(unwatched: true, released: true, how: "stand_down_group_leader"))
                let lease = try await campaign
                #expect(lease.state == .held)
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.leader(of: group) == swiftMember.rawValue)
                #expect(try await python.isLeader(group) == false)

                // While Swift leads, Python's rounds elect nobody.
                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.runWatchers() == [pythonElected])
                #expect(try await python.isLeader(group) == false)

                // Swift stands down: Python's next round elects it again.
                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                #expect(try await python.runWatchers() == [pythonElected, pythonElected])
                #expect(try await python.isLeader(group))
                #expect(try await coordinator.leader(of: g) == MemberID(pythonMember))

                #expect(try await python.standDown(group).released)
                #expect(try await coordinator.leader(of: g) == nil)
                try await coordinator.deleteGroup(g)
            }
        }
    }

    @Test("A Swift leader keeps Python out and is named; when it stands down Python's run_watchers elects Python")
    func swiftLeadsFirst() async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-lead")
        let pythonMember = uniqueName("py")
        try await Self.withPython("lead-swift", url: url, member: pythonMember) { python in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: swiftMember)
            try await coordinator.withRunning {
                let g = GroupID(group)
                try await coordinator.createGroup(g)
                let lease = try await coordinator.campaign(for: g, wait: .never)
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.leader(of: group) == swiftMember.rawValue)

                let refused = try await python.volunteer(group)
                #expect(refused == PythonPeer.Volunteering(elected: false, events: []))
                #expect(try await python.isLeader(group) == false)
                // Python's losing non-blocking round removed its contender again.
                #expect(try await python.zooKeeperChildren("\(Self.root)/\(group)/leader")?.count == 1)

                #expect(try await coordinator.standDown(from: g))
                #expect(lease.state == .released)
                #expect(try await coordinator.leader(of: g) == nil)
                #expect(try await python.leader(of: group) == nil)

                let pythonElected = PythonPeer.Elected(group: group, member: pythonMember)
                let elected = try await python.runWatchers()
                #expect(elected == [pythonElected])
                #expect(try await python.isLeader(group))

                // Now Python leads: Swift is kept out and names the leader.
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
                #expect(stoodDown == PythonPeer.StandDown(unwatched: true, released: true, how: "stand_down_group_leader"))
                let lease2 = try await coordinator.campaign(for: g, wait: .upTo(.testPatience))
                #expect(try await coordinator.leader(of: g) == swiftMember)
                #expect(try await python.leader(of: group) == swiftMember.rawValue)
                #expect(try await coordinator.standDown(from: g))
                #expect(lease2.state == .released)
                try await coordinator.deleteGroup(g)
            }
        }
    }

    // MARK: Znode layout

    @Test("Swift writes the znodes Python tooz reads, in tooz 9.1.0's layout")
    func znodeLayout() async throws {
        let url = try InteropEnvironment.requireZooKeeperURL()
        let group = uniqueName("zk-layout")
        let lockName = uniqueName("zk-lock")
        let member = uniqueName("swift")
        try await Self.withPython("layout", url: url, member: uniqueName("py")) { python in
            let coordinator = try Coordinator(url: InteropEnvironment.swiftZooKeeperURL(url), member: MemberID(member))
            try await coordinator.withRunning {
                let g = GroupID(group)
                let groupPath = "\(Self.root)/\(group)"
                try await coordinator.createGroup(g)
                let groupNode = try #require(try await python.zooKeeperNode(groupPath))
                #expect(groupNode.isEphemeral == false)
                #expect(groupNode.data == [])

                try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
                let memberNode = try #require(try await python.zooKeeperNode("\(groupPath)/\(member)"))
                #expect(memberNode.isEphemeral)
                #expect(memberNode.data == OsloMsgPack.encode(GroupInteropTests.swiftCapabilities))

                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                let lockPath = "\(Self.root)/locks/\(lockName)"
                let lockRoot = try #require(try await python.zooKeeperNode(lockPath))
                #expect(lockRoot.isEphemeral == false)
                let contenders = try #require(try await python.zooKeeperChildren(lockPath))
                #expect(contenders.count == 1)
                let contender = try #require(contenders.first)
                #expect(Self.isKazooContenderName(contender), "\(contender) is not <32 hex>__lock__<10 digits>")
                let contenderNode = try #require(try await python.zooKeeperNode("\(lockPath)/\(contender)"))
                #expect(contenderNode.isEphemeral)
                #expect(contenderNode.data == Array(member.utf8))
                #expect(lease.fencingToken.value == UInt64(contenderNode.czxid))
                #expect(try await lock.release())
                #expect(try await python.zooKeeperChildren(lockPath) == [])

                // The lock root is not a group for Swift; tooz lists it.
                #expect(try await python.groups().contains("locks"))
                #expect(try await !coordinator.groups().contains(GroupID("locks")))

                let leadership = try await coordinator.campaign(for: g, wait: .never)
                let leaderPath = "\(groupPath)/leader"
                #expect(try await python.zooKeeperNode(leaderPath)?.isEphemeral == false)
                let leaders = try #require(try await python.zooKeeperChildren(leaderPath))
                #expect(leaders.count == 1)
                let leaderName = try #require(leaders.first)
                #expect(Self.isKazooContenderName(leaderName), "\(leaderName) is not <32 hex>__lock__<10 digits>")
                let leaderNode = try #require(try await python.zooKeeperNode("\(leaderPath)/\(leaderName)"))
                #expect(leaderNode.isEphemeral)
                #expect(leaderNode.data == Array(member.utf8))
                #expect(leadership.fencingToken.value == UInt64(leaderNode.czxid))
                #expect(try await coordinator.standDown(from: g))
                #expect(try await python.zooKeeperChildren(leaderPath) == [])

                // Asking who leads a group nobody made creates nothing (tooz's get_leader would).
                let ghost = uniqueName("zk-ghost")
                #expect(try await coordinator.leader(of: GroupID(ghost)) == nil)
                #expect(try await python.zooKeeperNode("\(Self.root)/\(ghost)") == nil)

                try await coordinator.leave(g)
                #expect(try await python.zooKeeperNode("\(groupPath)/\(member)") == nil)
                try await coordinator.deleteGroup(g)
                #expect(try await python.zooKeeperNode(groupPath) == nil)
            }
            // Stopping ends the session: nothing of Swift's is left.
        }
    }

    // MARK: Helpers

    /// kazoo's contender name: `uuid4().hex` + `__lock__` + the server's 10-digit sequence.
    static func isKazooContenderName(_ name: String) -> Bool {
        let parts = name.components(separatedBy: "__lock__")
        guard parts.count == 2 else { return false }
        let lowerHex = Set("0123456789abcdef")
        let digits = Set("0123456789")
        return parts[0].count == 32 && parts[0].allSatisfy(lowerHex.contains)
            && parts[1].count == 10 && parts[1].allSatisfy(digits.contains)
    }

    /// Starts a Python peer on `url` as `member`, runs `body`, and always shuts the peer down.
    static func withPython<Result: Sendable>(
        _ label: String,
        url: String,
        member: String,
        _ body: (PythonPeer) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("zookeeper-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: member)
                return try await body(python)
            }
        }
    }
}
