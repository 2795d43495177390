import ToozServerTestSupport
import Foundation
import Synchronization
import Testing
import Tooz
import ToozTestKit
import ToozZooKeeper

/// `ZooKeeperClient` against real ZooKeeper servers (Debian's jars) that each test starts and
/// stops itself. Serialized: each test runs JVMs, and the fault tests need the machine to keep up
/// with short session timeouts.
@Suite(
    "ZooKeeperClient against a ZooKeeper server",
    .serialized,
    .enabled(if: ZooKeeperTestServer.testsEnabled, "java or Debian's zookeeper jars are missing (apt-get install zookeeper)")
)
struct ZooKeeperClientServerTests {
    // MARK: - Helpers

    /// A client for `url`, connected. The URL's `timeout` also bounds how long the server may
    /// take to grant the session, which a loaded machine can exceed; so the operation timeout
    /// is at least ``Swift/Duration/testPatience`` unless `configure` sets it.
    static func connect(
        _ url: String,
        _ configure: (inout ZooKeeperClientConfiguration) -> Void = { _ in }
    ) async throws -> ZooKeeperClient {
        var configuration = try ZooKeeperClientConfiguration(url: ZooKeeperURL(parsing: url))
        configuration.operationTimeout = max(configuration.operationTimeout, .testPatience)
        configure(&configuration)
        return try await ZooKeeperClient.connect(configuration: configuration)
    }

    /// The `ToozError` `body` throws, or `nil` (recorded as an issue) when it throws none.
    static func error(_ sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async -> ToozError? {
        do {
            try await body()
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return nil
        } catch let error as ToozError {
            return error
        } catch {
            Issue.record("expected a ToozError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static func uniquePath() -> String {
        "/t-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    static func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

    // MARK: - Session

    @Test("Connecting negotiates the session timeout within the server's bounds")
    func connectNegotiatesTimeout() async throws {
        try await ZooKeeperTestServer.withServer { server in
            // 10 s, not less: the session's state stream must show only `connected` then
            // `closed`, and a loaded machine can starve a short session's pings into a suspension
            // while the two other clients connect.
            let client = try await Self.connect(server.url + "?timeout=10")
            let session = try #require(client.session)
            #expect(session.timeout == .seconds(10))
            #expect(session.id != 0)
            #expect(client.state == .connected(session))
            #expect(client.connectedServer == server.server)
            var states = client.sessionStates().makeAsyncIterator()
            #expect(await states.next() == .connected(session))

            // The server's bounds here are 1 s to 60 s.
            // Asked while connected: a 1 s session on a loaded machine can be suspended (and
            // come back, or be replaced, with the same negotiated timeout) before it is read.
            let long = try await Self.connect(server.url + "?timeout=120")
            try await eventually("the long session's timeout") { long.session?.timeout == .seconds(60) }
            let short = try await Self.connect(server.url + "?timeout=0.2")
            try await eventually("the short session's timeout") { short.session?.timeout == .seconds(1) }
            #expect(long.session?.id != session.id)

            await client.close()
            await long.close()
            await short.close()
            #expect(client.state == .closed)
            #expect(await states.next() == .closed)
            #expect(await states.next() == nil)
        }
    }

    @Test("Connecting to an ensemble where nobody listens fails with connectionFailed")
    func connectFailsWithoutServer() async throws {
        let port = try ZooKeeperTestServer.freePort()
        let error = await Self.error {
            _ = try await Self.connect("zookeeper://127.0.0.1:\(port)") { $0.operationTimeout = .seconds(1.5) }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
    }

    // MARK: - Nodes

    @Test("Persistent, ephemeral and sequential nodes read back with their data, stat and children")
    func createAndReadBack() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let client = try await Self.connect(server.url)
            let session = try #require(client.session)
            let base = Self.uniquePath()

            #expect(try await client.create(base, data: [1, 2, 3]) == base)
            let (persistent, persistentStat) = try await client.createWithStat(base + "/p", data: Self.bytes("persistent"))
            #expect(persistent == base + "/p")
            #expect(persistentStat.ephemeralOwner == 0)
            #expect(persistentStat.czxid > 0)
            #expect(persistentStat.dataLength == 10)
            #expect(persistentStat.version == 0)

            let (data, stat) = try await client.getData(base + "/p")
            #expect(data == Self.bytes("persistent"))
            #expect(stat.czxid == persistentStat.czxid)
            #expect(stat == persistentStat)
            #expect(try await client.getData(base).data == [1, 2, 3])

            let (ephemeral, ephemeralStat) = try await client.createWithStat(base + "/e", data: Self.bytes("member"), mode: .ephemeral)
            #expect(ephemeral == base + "/e")
            #expect(ephemeralStat.ephemeralOwner == session.id)
            #expect(ephemeralStat.czxid > persistentStat.czxid)
            #expect(try await client.exists(base + "/e")?.ephemeralOwner == session.id)

            let first = try await client.create(base + "/abc__lock__", data: Self.bytes("m1"), mode: .ephemeralSequential)
            let second = try await client.create(base + "/abc__lock__", data: Self.bytes("m2"), mode: .persistentSequential)
            let firstSequence = try #require(Int(first.dropFirst((base + "/abc__lock__").count)))
            let secondSequence = try #require(Int(second.dropFirst((base + "/abc__lock__").count)))
            #expect(first.count == (base + "/abc__lock__").count + 10)
            #expect(secondSequence == firstSequence + 1)
            #expect(try await client.getData(first).data == Self.bytes("m1"))

            let (children, parentStat) = try await client.getChildren(base)
            #expect(
                children.sorted() == ["abc__lock__" + String(first.suffix(10)), "abc__lock__" + String(second.suffix(10)), "e", "p"]
            )
            #expect(parentStat.numChildren == 4)
            #expect(try await client.exists(base + "/missing") == nil)

            try await client.ensurePath(base + "/x/y/z")
            try await client.ensurePath(base + "/x/y/z")
            #expect(try await client.exists(base + "/x/y/z") != nil)
            #expect(try await client.getChildren(base + "/x").children == ["y"])
            await client.close()
        }
    }

    @Test("Versions are checked, and NONODE/NODEEXISTS/NOTEMPTY/BADVERSION map to backendError with the code")
    func versionsAndErrorCodes() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let client = try await Self.connect(server.url)
            let base = Self.uniquePath()
            _ = try await client.create(base, data: Self.bytes("v0"))
            #expect(try await client.setData(base, data: Self.bytes("v1")).version == 1)
            #expect(try await client.setData(base, data: Self.bytes("v2"), version: 1).version == 2)

            let staleSet = await Self.error { try await client.setData(base, data: Self.bytes("v3"), version: 1) }
            #expect(staleSet?.code == .backendError)
            #expect(staleSet?.zooKeeperCode == .badVersion)
            #expect(staleSet?.message.contains("BADVERSION") == true)
            #expect(staleSet?.message.contains(base) == true)
            #expect(staleSet?.zooKeeperError?.operation == "setData")
            #expect(staleSet?.zooKeeperError?.path == base)

            let staleDelete = await Self.error { try await client.delete(base, version: 1) }
            #expect(staleDelete?.code == .backendError)
            #expect(staleDelete?.zooKeeperCode == .badVersion)
            #expect(try await client.getData(base).data == Self.bytes("v2"))
            try await client.delete(base, version: 2)
            #expect(try await client.exists(base) == nil)

            let missing = await Self.error { try await client.delete(base) }
            #expect(missing?.code == .backendError)
            #expect(missing?.zooKeeperCode == .noNode)
            #expect(missing?.message.contains("NONODE") == true)
            #expect(await Self.error { _ = try await client.getData(base) }?.zooKeeperCode == .noNode)
            #expect(await Self.error { _ = try await client.getChildren(base) }?.zooKeeperCode == .noNode)
            #expect(await Self.error { _ = try await client.create(base + "/child") }?.zooKeeperCode == .noNode)

            _ = try await client.create(base)
            let exists = await Self.error { _ = try await client.create(base) }
            #expect(exists?.code == .backendError)
            #expect(exists?.zooKeeperCode == .nodeExists)
            #expect(exists?.message.contains("NODEEXISTS") == true)

            _ = try await client.create(base + "/child")
            let notEmpty = await Self.error { try await client.delete(base) }
            #expect(notEmpty?.code == .backendError)
            #expect(notEmpty?.zooKeeperCode == .notEmpty)

            _ = try await client.create(base + "/eph", mode: .ephemeral)
            let ephemeralParent = await Self.error { _ = try await client.create(base + "/eph/child") }
            #expect(ephemeralParent?.zooKeeperCode == .noChildrenForEphemerals)
            await client.close()
        }
    }

    @Test("multi applies every operation or none")
    func multiIsAtomic() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let client = try await Self.connect(server.url)
            let base = Self.uniquePath()
            _ = try await client.create(base)
            let results = try await client.multi([
                .create(path: base + "/a", data: Self.bytes("x")),
                .create(path: base + "/s-", mode: .persistentSequential),
                .setData(path: base + "/a", data: Self.bytes("y"), version: 0),
                .check(path: base + "/a", version: 1),
            ])
            #expect(results.count == 4)
            #expect(results[0] == .created(path: base + "/a"))
            guard case .created(let sequential) = results[1] else {
                Issue.record("expected a created path, got \(results[1])")
                return
            }
            #expect(sequential.hasPrefix(base + "/s-") && sequential.count == (base + "/s-").count + 10)
            guard case .dataSet(let stat) = results[2] else {
                Issue.record("expected a stat, got \(results[2])")
                return
            }
            #expect(stat.version == 1)
            #expect(results[3] == .checked)
            #expect(try await client.getData(base + "/a").data == Self.bytes("y"))

            let failed = await Self.error {
                _ = try await client.multi([
                    .create(path: base + "/b"),
                    .delete(path: base + "/missing"),
                    .setData(path: base + "/a", data: Self.bytes("z")),
                ])
            }
            #expect(failed?.code == .backendError)
            #expect(failed?.zooKeeperCode == .noNode)
            #expect(failed?.zooKeeperError?.failedOperationIndex == 1)
            #expect(failed?.zooKeeperError?.path == base + "/missing")
            #expect(try await client.exists(base + "/b") == nil)
            #expect(try await client.getData(base + "/a").data == Self.bytes("y"))
            await client.close()
        }
    }

    // MARK: - Watches

    @Test("exists, getData and getChildren watches fire once, with the event type and path")
    func watchesFireOnce() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let client = try await Self.connect(server.url)
            let base = Self.uniquePath()
            let fired = Mutex<[ZooKeeperWatcherEvent]>([])
            let record: ZooKeeperWatcher = { event in fired.withLock { $0.append(event) } }

            // exists on a missing node: NodeCreated.
            let created = ZooKeeperWatch()
            #expect(try await client.exists(base, watcher: { event in record(event); created.watcher(event) }) == nil)
            _ = try await client.create(base, data: Self.bytes("a"))
            let createdEvent = try await withDeadline("NodeCreated") { try await created.event() }
            #expect(createdEvent == ZooKeeperWatcherEvent(type: .nodeCreated, state: .syncConnected, path: base))

            // getData: NodeDataChanged, once, to every watcher of the path.
            let changed = ZooKeeperWatch()
            let changedToo = ZooKeeperWatch()
            _ = try await client.getData(base, watcher: { event in record(event); changed.watcher(event) })
            _ = try await client.exists(base, watcher: changedToo.watcher)
            try await client.setData(base, data: Self.bytes("b"))
            let changedEvent = try await withDeadline("NodeDataChanged") { try await changed.event() }
            #expect(changedEvent == ZooKeeperWatcherEvent(type: .nodeDataChanged, state: .syncConnected, path: base))
            #expect(try await withDeadline("the second watcher") { try await changedToo.event() } == changedEvent)

            // getChildren: NodeChildrenChanged on the parent's path.
            let children = ZooKeeperWatch()
            _ = try await client.getChildren(base, watcher: { event in record(event); children.watcher(event) })
            _ = try await client.create(base + "/c")
            let childrenEvent = try await withDeadline("NodeChildrenChanged") { try await children.event() }
            #expect(childrenEvent == ZooKeeperWatcherEvent(type: .nodeChildrenChanged, state: .syncConnected, path: base))

            // A deletion fires data and exist watches with NodeDeleted.
            let deleted = ZooKeeperWatch()
            _ = try await client.getData(base + "/c", watcher: { event in record(event); deleted.watcher(event) })
            try await client.delete(base + "/c")
            let deletedEvent = try await withDeadline("NodeDeleted") { try await deleted.event() }
            #expect(deletedEvent == ZooKeeperWatcherEvent(type: .nodeDeleted, state: .syncConnected, path: base + "/c"))

            // A getData that fails leaves no watch.
            _ = await Self.error { _ = try await client.getData(base + "/never", watcher: record) }
            _ = try await client.create(base + "/never")

            // More changes: the watches above have fired and must not fire again.
            try await client.setData(base, data: Self.bytes("c"))
            _ = try await client.create(base + "/d")
            try await client.delete(base + "/d")
            _ = try await client.exists(base)  // a round trip after the changes
            #expect(fired.withLock { $0.map(\.type) } == [.nodeCreated, .nodeDataChanged, .nodeChildrenChanged, .nodeDeleted])
            await client.close()
        }
    }

    @Test("An ephemeral node disappears at close(); watchers and calls learn that the client is closed")
    func ephemeralGoesAtClose() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let owner = try await Self.connect(server.url)
            let observer = try await Self.connect(server.url)
            let base = Self.uniquePath()
            _ = try await owner.create(base, data: Self.bytes("member"), mode: .ephemeral)
            let gone = ZooKeeperWatch()
            #expect(try await observer.exists(base, watcher: gone.watcher) != nil)
            let pending = ZooKeeperWatch()
            #expect(try await owner.exists(base + "-other", watcher: pending.watcher) == nil)

            await owner.close()
            let goneEvent = try await withDeadline("NodeDeleted") { try await gone.event() }
            #expect(goneEvent == ZooKeeperWatcherEvent(type: .nodeDeleted, state: .syncConnected, path: base))
            #expect(try await observer.exists(base) == nil)
            #expect(pending.firedEvent == ZooKeeperWatcherEvent(type: .none, state: .closed, path: base + "-other"))

            #expect(owner.state == .closed)
            #expect(owner.connectedServer == nil)
            let afterClose = await Self.error { _ = try await owner.exists("/") }
            #expect(afterClose?.code == .connectionFailed)
            #expect(afterClose?.message.contains("closed") == true)
            await owner.close()
            await observer.close()
        }
    }

    @Test("A call whose task is cancelled, or that gets no reply in time, fails alone; the session goes on")
    func cancellationAndOperationTimeout() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let client = try await Self.connect(server.url + "?timeout=30")
            let impatient = try await Self.connect(server.url + "?timeout=30") { $0.operationTimeout = .seconds(1) }
            let base = Self.uniquePath()
            _ = try await client.create(base, data: Self.bytes("data"))

            server.pause()
            let cancelled = Task { try await client.getData(base) }
            try await eventually("the request to be sent") { await client.outstandingRequestCount() == 1 }
            cancelled.cancel()
            let outcome = await cancelled.result
            #expect(throws: CancellationError.self) { try outcome.get() }

            let late = await Self.error { _ = try await impatient.getData(base) }
            #expect(late?.code == .timedOut)
            #expect(late?.zooKeeperCode == .operationTimeout)
            #expect(late?.message.contains("getData \(base)") == true)
            server.resume()

            // The replies to the abandoned requests come and are dropped; later calls match theirs.
            try await client.setData(base, data: Self.bytes("next"))
            #expect(try await client.getData(base).data == Self.bytes("next"))
            #expect(try await impatient.getData(base).data == Self.bytes("next"))
            #expect(client.state.isConnected && impatient.state.isConnected)
            await client.close()
            await impatient.close()
        }
    }

    // MARK: - Authentication and chroot

    @Test("With credentials, nodes get tooz's digest ACL: others cannot read or write them")
    func digestAuthentication() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let address = "127.0.0.1:\(server.port)"
            let owner = try await Self.connect("zookeeper://alice:s3cret@\(address)")
            #expect(owner.configuration.defaultACL == [ZooKeeperDigest.acl(user: "alice", password: "s3cret")])
            let base = Self.uniquePath()
            _ = try await owner.create(base, data: Self.bytes("secret"))
            #expect(try await owner.getData(base).data == Self.bytes("secret"))

            let stranger = try await Self.connect(server.url)
            let read = await Self.error { _ = try await stranger.getData(base) }
            #expect(read?.code == .backendError)
            #expect(read?.zooKeeperCode == .noAuth)
            #expect(read?.message.contains("NOAUTH") == true)
            #expect(read?.message.contains("s3cret") == false)
            #expect(await Self.error { try await stranger.setData(base, data: [0]) }?.zooKeeperCode == .noAuth)
            #expect(await Self.error { _ = try await stranger.create(base + "/child") }?.zooKeeperCode == .noAuth)

            let wrongPassword = try await Self.connect("zookeeper://alice:guess@\(address)")
            #expect(await Self.error { try await wrongPassword.setData(base, data: [0]) }?.zooKeeperCode == .noAuth)

            let colleague = try await Self.connect("zookeeper://alice:s3cret@\(address)")
            try await colleague.setData(base, data: Self.bytes("shared"))
            #expect(try await colleague.getData(base).data == Self.bytes("shared"))

            try await stranger.addDigestAuth(user: "alice", password: "s3cret")
            #expect(try await stranger.getData(base).data == Self.bytes("shared"))

            // A scheme the server does not know is refused, which ends that client's session.
            let refused = try await Self.connect(server.url)
            let refusal = await Self.error { try await refused.addAuth(scheme: "no-such-scheme", credentials: [1]) }
            #expect(refusal?.code == .connectionFailed)
            #expect(refusal?.zooKeeperCode == .authFailed)
            #expect(refused.state == .authenticationFailed)
            #expect(await Self.error { _ = try await refused.exists("/") }?.code == .connectionFailed)
            await refused.close()
            #expect(refused.state == .closed)

            for client in [owner, stranger, wrongPassword, colleague] { await client.close() }
        }
    }

    @Test("A chroot from the URL makes every path relative to it, in replies and watch events")
    func chroot() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let root = try await Self.connect(server.url)
            let chroot = Self.uniquePath() + "/apps"
            try await root.ensurePath(chroot)
            let client = try await Self.connect("zookeeper://?hosts=127.0.0.1:\(server.port)\(chroot)")
            #expect(client.configuration.chroot == chroot)

            #expect(try await client.create("/a", data: Self.bytes("in chroot")) == "/a")
            #expect(try await root.getData(chroot + "/a").data == Self.bytes("in chroot"))
            let sequential = try await client.create("/s-", mode: .ephemeralSequential)
            #expect(sequential.hasPrefix("/s-") && sequential.count == 13)
            #expect(try await client.getChildren("/").children.sorted() == ["a", String(sequential.dropFirst())])
            #expect(try await client.exists("/")?.czxid == root.exists(chroot)?.czxid)

            let watch = ZooKeeperWatch()
            #expect(try await client.exists("/b", watcher: watch.watcher) == nil)
            _ = try await root.create(chroot + "/b")
            let event = try await withDeadline("NodeCreated in the chroot") { try await watch.event() }
            #expect(event == ZooKeeperWatcherEvent(type: .nodeCreated, state: .syncConnected, path: "/b"))

            let results = try await client.multi([.create(path: "/m"), .delete(path: "/b")])
            #expect(results == [.created(path: "/m"), .deleted])
            #expect(try await root.exists(chroot + "/m") != nil)
            await client.close()
            await root.close()
        }
    }

    // MARK: - Faults

    @Test("A request in flight when the server dies fails with connectionFailed; the session resumes after a restart")
    func connectionLossAndResume() async throws {
        try await ZooKeeperTestServer.withServer { server in
            // The longest session the test server grants: the client declares the session
            // expired at its last contact plus the timeout, and that span includes the server's
            // restart, a JVM start that a loaded 2-core machine can stretch past 30 s.
            let client = try await Self.connect(server.url + "?timeout=60")
            let session = try #require(client.session)
            let recorder = SessionStateRecorder(client)
            defer { recorder.stop() }
            let base = Self.uniquePath()
            _ = try await client.create(base, data: Self.bytes("held"), mode: .ephemeral)

            // Frozen, the server keeps the connection open and answers nothing.
            server.pause()
            async let inFlight = Self.error { _ = try await client.getData(base) }
            try await eventually("the request to be sent") { await client.outstandingRequestCount() == 1 }
            #expect(client.state.isConnected)
            await server.kill9()
            let lost = await inFlight
            #expect(lost?.code == .connectionFailed)
            #expect(lost?.zooKeeperCode == .connectionLoss)
            _ = try await recorder.wait("suspended") { $0.contains(.suspended(session)) }

            // The restarted server has the session from its log: the client resumes it.
            try await server.restart()
            do {
                _ = try await recorder.wait("reconnected") { $0.last == .reconnected(session) }
            } catch {
                Issue.record("the server's log: \(server.logTail())")
                throw error
            }
            #expect(client.session == session)
            #expect(try await client.exists(base)?.ephemeralOwner == session.id)
            #expect(try await client.getData(base).data == Self.bytes("held"))
            await client.close()
        }
    }

    @Test("A session that stays unreachable for its timeout expires: states say so, calls fail with leaseLost")
    func sessionExpiry() async throws {
        try await ZooKeeperTestServer.withServer { server in
            // Short sessions; requests may wait longer than that, so that they fail because of
            // the expiry and not because of the operation timeout.
            let keeper = try await Self.connect(server.url + "?timeout=3") {
                $0.reconnectAfterExpiry = false
                $0.operationTimeout = .seconds(120)
            }
            let renewer = try await Self.connect(server.url + "?timeout=3") { $0.operationTimeout = .seconds(120) }
            let keeperSession = try #require(keeper.session)
            let renewerSession = try #require(renewer.session)
            let keeperStates = SessionStateRecorder(keeper)
            let renewerStates = SessionStateRecorder(renewer)
            defer {
                keeperStates.stop()
                renewerStates.stop()
            }
            let base = Self.uniquePath()
            _ = try await keeper.create(base + "-k", mode: .ephemeral)
            _ = try await renewer.create(base + "-r", mode: .ephemeral)
            let watch = ZooKeeperWatch()
            #expect(try await keeper.exists(base + "-k", watcher: watch.watcher) != nil)

            server.pause()
            try await eventually("the keeper to notice") {
                keeper.state == .suspended(keeperSession) || keeper.state == .expired(keeperSession)
            }
            // Queued while suspended (or refused at once if the expiry came first): it fails
            // either way with leaseLost, and never reaches a server.
            async let queued = Self.error { _ = try await keeper.getData(base + "-k") }
            _ = try await keeperStates.wait("expired") { $0.contains(.expired(keeperSession)) }
            let expired = await queued
            #expect(expired?.code == .leaseLost)
            #expect(expired?.zooKeeperCode == .sessionExpired)
            #expect(expired?.message.contains("expired") == true)
            #expect(watch.firedEvent == ZooKeeperWatcherEvent(type: .none, state: .expired, path: base + "-k"))
            #expect(keeperStates.states.contains(.suspended(keeperSession)))
            #expect(keeper.state == .expired(keeperSession))
            #expect(await Self.error { _ = try await keeper.exists("/") }?.code == .leaseLost)
            let waiting = await Self.error { try await keeper.waitForSession(timeout: .seconds(5)) }
            #expect(waiting?.code == .leaseLost)

            // The other client opens a new session by itself once the server answers again.
            _ = try await renewerStates.wait("expired") { $0.contains(.expired(renewerSession)) }
            server.resume()
            let states = try await renewerStates.wait("a new session") { states in
                guard case .connected(let session) = states.last else { return false }
                return session.id != renewerSession.id
            }
            #expect(states.first == .connected(renewerSession))
            #expect(states.contains(.suspended(renewerSession)))
            let renewed = try #require(renewer.session)
            #expect(renewed.id != renewerSession.id)

            // The server drops the old sessions' ephemeral nodes when it expires them itself.
            try await eventually("the expired sessions' nodes to go") {
                let keeperNode = try await renewer.exists(base + "-k")
                let renewerNode = try await renewer.exists(base + "-r")
                return keeperNode == nil && renewerNode == nil
            }
            _ = try await renewer.create(base + "-r", mode: .ephemeral)
            #expect(try await renewer.exists(base + "-r")?.ephemeralOwner == renewed.id)
            #expect(keeper.state == .expired(keeperSession))
            await keeper.close()
            await renewer.close()
        }
    }

    @Test("In a three-server ensemble the session survives the loss of its server: ephemeral nodes stay, watches fire")
    func ensembleFailover() async throws {
        try await ZooKeeperTestServer.withEnsemble(size: 3) { servers in
            let hosts = servers.map { "127.0.0.1:\($0.port)" }
            let url = "zookeeper://\(hosts[0])?hosts=\(hosts[1])&hosts=\(hosts[2])&timeout=30"
            let client = try await Self.connect(url)
            let session = try #require(client.session)
            let recorder = SessionStateRecorder(client)
            defer { recorder.stop() }
            let base = Self.uniquePath()
            _ = try await client.create(base, data: Self.bytes("before"))
            _ = try await client.create(base + "-member", data: Self.bytes("caps"), mode: .ephemeral)
            let dataWatch = ZooKeeperWatch()
            let childWatch = ZooKeeperWatch()
            _ = try await client.getData(base, watcher: dataWatch.watcher)
            _ = try await client.getChildren(base, watcher: childWatch.watcher)

            let connected = try #require(client.connectedServer)
            let victim = try #require(servers.first { $0.server == connected })
            await victim.stop()

            _ = try await recorder.wait("reconnected") { $0.last == .reconnected(session) }
            #expect(recorder.states.contains(.suspended(session)))
            let now = try #require(client.connectedServer)
            #expect(now != victim.server)
            #expect(client.session?.id == session.id)
            #expect(try await client.exists(base + "-member")?.ephemeralOwner == session.id)
            #expect(dataWatch.firedEvent == nil)

            // Changes from another client on a surviving server fire the re-registered watches.
            let survivor = try #require(servers.first { $0.server != victim.server })
            let other = try await Self.connect(survivor.url)
            try await other.setData(base, data: Self.bytes("after"))
            _ = try await other.create(base + "/child")
            let dataEvent = try await withDeadline("NodeDataChanged after the failover") { try await dataWatch.event() }
            #expect(dataEvent == ZooKeeperWatcherEvent(type: .nodeDataChanged, state: .syncConnected, path: base))
            let childEvent = try await withDeadline("NodeChildrenChanged after the failover") { try await childWatch.event() }
            #expect(childEvent == ZooKeeperWatcherEvent(type: .nodeChildrenChanged, state: .syncConnected, path: base))
            #expect(try await client.getData(base).data == Self.bytes("after"))
            await other.close()
            await client.close()
        }
    }
}

/// Records every state of a client's session, for tests that wait for a transition.
final class SessionStateRecorder: Sendable {
    private final class Storage: Sendable {
        let states = Mutex<[ZooKeeperSessionState]>([])
    }

    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ client: ZooKeeperClient) {
        let stream = client.sessionStates()
        let storage = self.storage
        self.task = Task {
            for await state in stream { storage.states.withLock { $0.append(state) } }
        }
    }

    var states: [ZooKeeperSessionState] { self.storage.states.withLock { $0 } }

    /// Waits until the recorded states satisfy `condition` (within a generous bound) and
    /// returns them.
    func wait(
        _ what: String,
        within limit: Duration = .seconds(90),
        sourceLocation: SourceLocation = #_sourceLocation,
        until condition: ([ZooKeeperSessionState]) -> Bool
    ) async throws -> [ZooKeeperSessionState] {
        var matched: [ZooKeeperSessionState] = []
        try await eventually("\(what) (states: \(self.states))", within: limit, sourceLocation: sourceLocation) {
            matched = self.states
            return condition(matched)
        }
        return matched
    }

    func stop() {
        self.task.cancel()
    }
}
