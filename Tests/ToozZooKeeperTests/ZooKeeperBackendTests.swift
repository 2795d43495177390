import ToozServerTestSupport
import Foundation
import Synchronization
import Testing
import Tooz
import ToozBackends
import ToozTestKit
import ToozZooKeeper

/// The `zookeeper://` backend against a real server: the exact znode layout (read raw with a
/// ``ZooKeeperClient``), fencing tokens, tooz's bugs not copied, lost-create recovery, and a
/// holder whose session ends. Serialized: each test starts its own JVM.
@Suite(
    "ZooKeeperBackend against a ZooKeeper server",
    .serialized,
    .enabled(if: ZooKeeperTestServer.testsEnabled, "java or Debian's zookeeper jars are missing (apt-get install zookeeper)")
)
struct ZooKeeperBackendTests {
    static func raw(_ server: ZooKeeperTestServer) async throws -> ZooKeeperClient {
        try await ZooKeeperClient.connect(configuration: ZooKeeperClientConfiguration(url: ZooKeeperURL(parsing: server.url)))
    }

    static func backend(_ url: String) throws -> ZooKeeperBackend {
        let (backend, _) = try BackendFactory.makeBackend(url: url)
        return try #require(backend as? ZooKeeperBackend)
    }

    /// kazoo's node name: `<uuid4hex>__lock__<seq10>`.
    static func isContenderName(_ name: String) -> Bool {
        let parts = name.split(separator: "__lock__", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let hex = parts[0].utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        let digits = parts[1].utf8.allSatisfy { (48...57).contains($0) }
        return parts[0].utf8.count == 32 && hex && parts[1].utf8.count == 10 && digits
    }

    @Test("join, lock and campaign make tooz's znodes; leader and locks stay hidden")
    func layout() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let raw = try await Self.raw(server)
            let coordinator = try Coordinator(url: server.url, member: "worker-1")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g")
                try await coordinator.join("g", capabilities: ["weight": 2])
                let lock = try coordinator.lock(named: "L")
                let lease = try await lock.acquire(wait: .never)
                try await coordinator.campaign(for: "g", wait: .never)

                #expect(Set(try await raw.getChildren("/tooz").children) == ["g", "locks"])
                #expect(Set(try await raw.getChildren("/tooz/g").children) == ["worker-1", "leader"])
                let (data, stat) = try await raw.getData("/tooz/g/worker-1")
                #expect(try OsloMsgPack.decode(data) == ["weight": 2])
                #expect(stat.ephemeralOwner != 0, "a member is ephemeral")
                #expect(try await raw.exists("/tooz/g")?.ephemeralOwner == 0, "a group is persistent")
                #expect(try await raw.exists("/tooz/g/leader")?.ephemeralOwner == 0)

                for recipe in ["/tooz/g/leader", "/tooz/locks/L"] {
                    let children = try await raw.getChildren(recipe).children
                    #expect(children.count == 1)
                    let node = try #require(children.first)
                    #expect(Self.isContenderName(node), "\(node)")
                    let (owner, nodeStat) = try await raw.getData(recipe + "/" + node)
                    #expect(String(decoding: owner, as: UTF8.self) == "worker-1")
                    #expect(nodeStat.ephemeralOwner != 0)
                    if recipe == "/tooz/locks/L" {
                        #expect(lease.fencingToken.value == UInt64(nodeStat.czxid), "the token is the node's czxid")
                        #expect(lease.fencingToken.strength == .linearizable)
                    }
                }
                #expect(try await coordinator.members(of: "g") == ["worker-1"], "the leader node is no member")
                #expect(!(try await coordinator.groups().contains("locks")), "the lock tree is no group")
                #expect(try await coordinator.leader(of: "g") == "worker-1")
                #expect(try await lock.holder() == "worker-1")

                let first = lease.fencingToken
                #expect(try await lock.release())
                #expect(try await raw.getChildren("/tooz/locks/L").children.isEmpty, "release deletes the node")
                let second = try await lock.acquire(wait: .never)
                #expect(second.fencingToken > first)
                #expect(try await lock.release())
            }
            await raw.close()
        }
    }

    @Test("reserved names are refused; leader(of:) on a missing group creates nothing")
    func reservedNamesAndReadOnlyLeader() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let raw = try await Self.raw(server)
            let coordinator = try Coordinator(url: server.url, member: "m")
            // Reserved names are refused at the API edge, before any I/O.
            #expect(throws: ToozError(.invalidArgument, "member id \"leader\" is reserved by this backend")) {
                try Coordinator(url: server.url, member: "leader")
            }
            try await coordinator.withRunning {
                await #expect(throws: ToozError.self) { try await coordinator.createGroup("locks") }
                try await coordinator.createGroup("g")
                #expect(try await coordinator.leader(of: "missing") == nil)
                #expect(try await raw.exists("/tooz/missing") == nil, "reading the leader created the group")
                #expect(try await coordinator.leader(of: "g") == nil)
                #expect(try await raw.exists("/tooz/g/leader") == nil)
                // A group whose only child is an empty leadership recipe can be deleted.
                try await coordinator.campaign(for: "g", wait: .never)
                #expect(try await coordinator.standDown(from: "g"))
                try await coordinator.deleteGroup("g")
                #expect(try await raw.exists("/tooz/g") == nil)
            }
            await raw.close()
        }
    }

    @Test("waiters queue in kazoo's order: each watches the one ahead, and the first in line wins")
    func waitersQueueInOrder() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let raw = try await Self.raw(server)
            let url = server.url + "?" + ZooKeeperTestServer.sessionOptions(seconds: 10)
            let a = try Coordinator(url: url, member: "a")
            let b = try Coordinator(url: url, member: "b")
            let c = try Coordinator(url: url, member: "c")
            try await a.withRunning {
                try await b.withRunning {
                    try await c.withRunning {
                        let first = try await a.lock(named: "queue").acquire(wait: .never)
                        var order: [String] = []
                        try await withThrowingTaskGroup(of: String.self) { group in
                            for (coordinator, name) in [(b, "b"), (c, "c")] {
                                // b queues first, c behind it.
                                let queued = name == "b" ? 2 : 3
                                group.addTask {
                                    let lease = try await coordinator.lock(named: "queue").acquire(wait: .upTo(.seconds(60)))
                                    // Held while the other waits, so finishing order is taking order.
                                    try await Task.sleep(for: .milliseconds(50))
                                    _ = try await lease.release()
                                    return name
                                }
                                try await eventually("\(queued) contenders in the queue") {
                                    try await raw.getChildren("/tooz/locks/queue").children.count >= queued
                                }
                                #expect(try await raw.getChildren("/tooz/locks/queue").children.count == queued)
                            }
                            #expect(try await first.release())
                            for try await name in group { order.append(name) }
                        }
                        #expect(order == ["b", "c"])
                        #expect(try await raw.getChildren("/tooz/locks/queue").children.isEmpty)
                    }
                }
            }
        }
    }

    @Test("a node left by a create whose reply was lost is adopted, not duplicated")
    func lostCreateIsAdopted() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let backend = try Self.backend(server.url)
            try await backend.connect()
            let client = try backend.client()
            let owner = LockOwner(member: "m")
            try await client.ensurePath("/tooz/locks/L")
            // What a create applied by the server, whose reply the connection lost, leaves behind.
            let (_, stat) = try await client.createWithStat(
                "/tooz/locks/L/\(owner.token)__lock__", data: Array("m".utf8), mode: .ephemeralSequential
            )
            let grant = try #require(try await backend.tryAcquire(.lock("L"), owner: owner, ttl: .seconds(10)))
            #expect(grant.fencingToken.value == UInt64(stat.czxid))
            // tryAcquire has no coordinator clock: a moment stamped on a clock of its own would
            // put the lease's safe deadline anywhere on the coordinator's.
            #expect(grant.validFrom == nil)
            #expect(grant.ttl != nil, "the granted session timeout")
            #expect(try await client.getChildren("/tooz/locks/L").children.count == 1)
            #expect(try await backend.refresh(.lock("L"), grant: grant, ttl: .seconds(10)))

            // A losing attempt that may not wait leaves nothing behind (kazoo's non-blocking acquire).
            let loser = LockOwner(member: "n")
            #expect(try await backend.tryAcquire(.lock("L"), owner: loser, ttl: .seconds(10)) == nil)
            #expect(try await client.getChildren("/tooz/locks/L").children.count == 1)
            #expect(try await backend.holder(of: .lock("L")) == "m")
            #expect(try await backend.release(.lock("L"), grant: grant))
            #expect(try await backend.release(.lock("L"), grant: grant) == false)
            #expect(try await client.getChildren("/tooz/locks/L").children.isEmpty)
            await backend.disconnect()
        }
    }

    @Test("when the holder's session ends, the waiter gets the lock and the holder's lease is lost")
    func holderSessionEnds() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let url = server.url + "?" + ZooKeeperTestServer.sessionOptions(seconds: 3)
            let (holderBackend, configuration) = try BackendFactory.makeBackend(url: url)
            let zooKeeper = try #require(holderBackend as? ZooKeeperBackend)
            let holder = try Coordinator(backend: holderBackend, member: "holder", configuration: configuration)
            let waiter = try Coordinator(url: url, member: "waiter")
            try await holder.withRunning {
                try await waiter.withRunning {
                    let lease = try await holder.lock(named: "L").acquire(wait: .never)
                    #expect(try await waiter.lock(named: "L").tryAcquire() == nil)
                    try await withThrowingTaskGroup(of: Lease.self) { group in
                        group.addTask { try await waiter.lock(named: "L").acquire(wait: .upTo(.testPatience)) }
                        // The holder's session goes, as with a crash; its node goes with it.
                        try await zooKeeper.client().close()
                        let taken = try #require(try await group.next())
                        #expect(taken.member == "waiter")
                        #expect(taken.fencingToken > lease.fencingToken)
                        _ = try await taken.release()
                    }
                    try await eventually("the holder's lease to be lost (now \(lease.state))") { !lease.state.isUsable }
                }
            }
        }
    }

    @Test("membership events are pushed by watches")
    func eventsArePushed() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let watcher = try Coordinator(url: server.url + "?poll_interval=60", member: "watcher")
            let joiner = try Coordinator(url: server.url, member: "joiner")
            try await watcher.withRunning {
                try await joiner.withRunning {
                    try await watcher.createGroup("g")
                    var events = try watcher.events(in: "g").makeAsyncIterator()
                    guard case .snapshot = try await events.next() else {
                        Issue.record("the stream did not start with a snapshot")
                        return
                    }
                    // With a 60 s poll interval, only a watch can bring these in time.
                    try await joiner.join("g", capabilities: ["a": 1])
                    #expect(try await events.next() == .joined("joiner", capabilities: ["a": 1]))
                    try await joiner.campaign(for: "g", wait: .never)
                    #expect(try await events.next() == .leaderChanged("joiner"))
                    try await joiner.updateCapabilities(["a": 2], in: "g")
                    #expect(try await events.next() == .capabilitiesChanged("joiner", capabilities: ["a": 2]))
                }
            }
        }
    }

    @Test("a deleted and re-created group's next join is pushed, not found by the safety-net re-read")
    func recreatedGroupEventsArePushed() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let watcher = try Coordinator(url: server.url + "?poll_interval=60", member: "watcher")
            let other = try Coordinator(url: server.url, member: "joiner")
            try await watcher.withRunning {
                try await other.withRunning {
                    try await other.createGroup("g")
                    try await other.join("g")
                    // The stream is consumed all along, as `tooz watch` does: each wake-up re-reads
                    // the group and re-arms its watches, or (group gone) has none to re-arm.
                    let (received, sink) = AsyncStream.makeStream(of: GroupEvent.self)
                    let events = try watcher.events(in: "g")
                    let consumer = Task {
                        for try await event in events { sink.yield(event) }
                        sink.finish()
                    }
                    defer { consumer.cancel() }
                    var iterator = received.makeAsyncIterator()
                    guard case .snapshot = await iterator.next() else {
                        Issue.record("the stream did not start with a snapshot")
                        return
                    }
                    try await other.leave("g")
                    #expect(await iterator.next() == .left("joiner"))
                    try await other.deleteGroup("g")
                    // Let the deletion's watch fire and the stream re-read the missing group.
                    try await Task.sleep(for: .seconds(1))
                    try await other.createGroup("g")
                    let started = ContinuousClock.now
                    try await other.join("g", capabilities: ["a": 1])
                    // With a 60 s poll interval, only a watch brings it in well under 10 s.
                    let next = await iterator.next()
                    let elapsed = ContinuousClock.now - started
                    #expect(next == .joined("joiner", capabilities: ["a": 1]))
                    #expect(elapsed < .seconds(10), "the join was reported after \(elapsed)")
                }
            }
        }
    }
}

/// kazoo's contender rules, without a server.
@Suite("ZooKeeperLockRecipe")
struct ZooKeeperLockRecipeTests {
    @Test("contenders match __lock__<10 digits> and sort by the sequence string")
    func contenders() {
        let children = [
            "bbbb__lock__0000000003", "leader", "aaaa__lock__0000000010", "x__lock__123", "cccc__lock__0000000001",
            "dddd__lock__-0000000001", "eeee__lock__00000000012",
        ]
        #expect(
            ZooKeeperLockRecipe.contenders(children)
                == ["dddd__lock__-0000000001", "cccc__lock__0000000001", "bbbb__lock__0000000003", "aaaa__lock__0000000010"]
        )
        #expect(ZooKeeperLockRecipe.nodes(of: "bbbb", in: children) == ["bbbb__lock__0000000003"])
    }

    @Test("the owner token serves as kazoo's uuid when it is 32 hex characters")
    func uuid() {
        let token = LockOwner.uniqueToken()
        #expect(ZooKeeperLockRecipe.uuid(from: token) == token)
        let replaced = ZooKeeperLockRecipe.uuid(from: "not/hex")
        #expect(replaced.utf8.count == 32 && replaced != "not/hex")
    }
}
