import NIOCore
import Testing
import Tooz

@testable import ToozZooKeeper

private typealias Machine = ZooKeeperSessionStateMachine<Int>
private typealias Action = Machine.Action

/// Session scenarios with explicit times: a 30 s session, so pings every 10 s and a dead
/// connection noticed after 20 s of silence.
@Suite("ZooKeeper session state machine")
struct ZooKeeperSessionStateMachineTests {
    private static let password: [UInt8] = Array(200..<216)
    private static let sessionID: Int64 = 0x0100_0000_0000_00ab
    private static let session = ZooKeeperSession(id: sessionID, password: password, timeout: .seconds(30))
    private static let first = ZooKeeperConnectionID(1)
    private static let second = ZooKeeperConnectionID(2)

    // MARK: Frames

    private static func frame(_ bytes: JuteBytes) -> ByteBuffer { ByteBuffer(bytes: bytes.framed) }

    private static func connectRequest(zxid: Int64 = 0, sessionID: Int64 = 0, password: [UInt8]? = nil) -> ByteBuffer {
        frame(
            JuteBytes().int(0).long(zxid).int(30_000).long(sessionID)
                .buffer(password ?? [UInt8](repeating: 0, count: 16)).bool(false)
        )
    }

    private static func connectResponse(timeout: Int32 = 30_000, sessionID: Int64 = sessionID) -> ByteBuffer {
        JuteBytes().int(0).int(timeout).long(sessionID).buffer(password).bool(false).byteBuffer
    }

    private static func reply(xid: Int32, zxid: Int64, err: Int32 = 0, _ body: JuteBytes = JuteBytes()) -> ByteBuffer {
        JuteBytes().int(xid).long(zxid).int(err).raw(body.bytes).byteBuffer
    }

    private static func notification(_ type: Int32, _ path: String) -> ByteBuffer {
        JuteBytes().int(-1).long(-1).int(0).int(type).int(3).string(path).byteBuffer
    }

    private static let ping = frame(JuteBytes().int(-2).int(11))

    // MARK: Helpers

    /// A machine with an established session, connected on connection #1 at time 0.
    private static func connected(_ configuration: Machine.Configuration? = nil) -> Machine {
        var machine = Machine(configuration: configuration ?? Machine.Configuration(sessionTimeout: .seconds(30)))
        _ = machine.start(now: .zero)
        _ = machine.transportEstablished(first, now: .zero)
        _ = machine.frameReceived(connectResponse(), on: first, now: .zero)
        return machine
    }

    // MARK: Handshake

    @Test("A new session: connect request, handshake reply, first ping scheduled at a third")
    func newSession() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30), serverCount: 3))
        #expect(machine.start(now: .zero) == [.openConnection(Self.first, after: .zero)])
        #expect(
            machine.transportEstablished(Self.first, now: .seconds(1)) == [
                .send(Self.connectRequest()), .scheduleTimer(.handshake, at: .seconds(11)),
            ]
        )
        #expect(!machine.isConnected)
        #expect(
            machine.frameReceived(Self.connectResponse(), on: Self.first, now: .seconds(2)) == [
                .cancelTimer(.handshake), .sessionEstablished(Self.session), .scheduleTimer(.ping, at: .seconds(12)),
            ]
        )
        #expect(machine.isConnected)
        #expect(machine.session == Self.session)
    }

    @Test("The negotiated timeout, not the requested one, drives the pings")
    func negotiatedTimeout() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30)))
        _ = machine.start(now: .zero)
        _ = machine.transportEstablished(Self.first, now: .zero)
        let actions = machine.frameReceived(Self.connectResponse(timeout: 6_000), on: Self.first, now: .zero)
        #expect(actions.last == .scheduleTimer(.ping, at: .seconds(2)))
        #expect(machine.session?.timeout == .seconds(6))
    }

    @Test("Digest authentication is sent with xid -4 right after the handshake")
    func authentication() {
        let auth = ZooKeeperDigest.authPacket(user: "user", password: "pass")
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30), authPackets: [auth]))
        _ = machine.start(now: .zero)
        _ = machine.transportEstablished(Self.first, now: .zero)
        let actions = machine.frameReceived(Self.connectResponse(), on: Self.first, now: .zero)
        let authFrame = Self.frame(JuteBytes().int(-4).int(100).int(0).string("digest").buffer(Array("user:pass".utf8)))
        #expect(actions == [
            .cancelTimer(.handshake), .sessionEstablished(Self.session), .send(authFrame), .scheduleTimer(.ping, at: .seconds(10)),
        ])
        // A successful auth reply needs nothing.
        #expect(machine.frameReceived(Self.reply(xid: -4, zxid: 0), on: Self.first, now: .seconds(1)) == [])
    }

    @Test("Refused credentials end the session with authFailed")
    func authenticationRefused() {
        let auth = ZooKeeperDigest.authPacket(user: "user", password: "wrong")
        var machine = Self.connected(Machine.Configuration(sessionTimeout: .seconds(30), authPackets: [auth]))
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/tooz")), context: 1, now: .seconds(1))
        let actions = machine.frameReceived(Self.reply(xid: -4, zxid: 0, err: -115), on: Self.first, now: .seconds(1))
        #expect(actions == [
            .closeConnection(Self.first, reason: ToozError(.connectionFailed, "ZooKeeper refused the digest credentials")),
            .cancelTimer(.ping), .cancelTimer(.handshake), .cancelTimer(.sessionExpiry),
            .failRequests([1], .authFailed), .authenticationFailed,
        ])
        #expect(
            machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/")), context: 2, now: .seconds(2)) == [
                .completeRequest(2, .failure(.authFailed))
            ]
        )
    }

    @Test("A handshake that takes too long drops the connection and tries the next server")
    func handshakeTimeout() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30), serverCount: 2))
        _ = machine.start(now: .zero)
        _ = machine.transportEstablished(Self.first, now: .zero)
        #expect(machine.timerFired(.handshake, now: .seconds(14)) == [.scheduleTimer(.handshake, at: .seconds(15))])
        #expect(
            machine.timerFired(.handshake, now: .seconds(15)) == [
                .closeConnection(Self.first, reason: ToozError(.timedOut, "timed out waiting for the ZooKeeper handshake (no reply within 15.0 seconds)")),
                .cancelTimer(.ping), .cancelTimer(.handshake), .openConnection(Self.second, after: .zero),
            ]
        )
    }

    @Test("Failed connection attempts: every server once without delay, then exponential backoff up to the maximum")
    func reconnectBackoff() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30), serverCount: 3))
        _ = machine.start(now: .zero)
        var delays: [Duration] = []
        for attempt in 1...9 {
            let actions = machine.transportFailed(ZooKeeperConnectionID(attempt), now: .zero)
            guard case .openConnection(let next, let delay)? = actions.first else {
                Issue.record("no reconnect in \(actions)")
                return
            }
            #expect(next == ZooKeeperConnectionID(attempt + 1))
            delays.append(delay)
        }
        #expect(delays == [
            .zero, .zero, .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
            .milliseconds(800), .seconds(1), .seconds(1),
        ])
        // A report for an attempt the machine no longer waits for changes nothing.
        #expect(machine.transportFailed(Self.first, now: .zero) == [])
    }

    @Test("A server that drops every handshake is retried with backoff, not in a tight loop")
    func droppedHandshakes() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30), serverCount: 1))
        _ = machine.start(now: .zero)
        var delays: [Duration] = []
        for attempt in 1...3 {
            let connection = ZooKeeperConnectionID(attempt)
            _ = machine.transportEstablished(connection, now: .zero)
            let actions = machine.connectionLost(connection, now: .zero)
            guard case .openConnection(_, let delay)? = actions.last else {
                Issue.record("no reconnect in \(actions)")
                return
            }
            delays.append(delay)
        }
        #expect(delays == [.milliseconds(50), .milliseconds(100), .milliseconds(200)])
    }

    @Test("A malformed handshake reply drops the connection")
    func malformedHandshake() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30)))
        _ = machine.start(now: .zero)
        _ = machine.transportEstablished(Self.first, now: .zero)
        let actions = machine.frameReceived(JuteBytes().int(0).int(30_000).byteBuffer, on: Self.first, now: .zero)
        guard case .closeConnection(Self.first, let reason)? = actions.first else {
            Issue.record("expected a close, got \(actions)")
            return
        }
        #expect(reason?.code == .backendError)
        // The only server failed: back off before trying it again.
        #expect(actions.last == .openConnection(Self.second, after: .milliseconds(50)))
        #expect(machine.session == nil)
    }

    // MARK: Pings and liveness

    @Test("Pings go out every third of the timeout while the server answers")
    func pingSchedule() {
        var machine = Self.connected()
        #expect(machine.timerFired(.ping, now: .seconds(10)) == [.send(Self.ping), .scheduleTimer(.ping, at: .seconds(20))])
        #expect(machine.frameReceived(Self.reply(xid: -2, zxid: 5), on: Self.first, now: .seconds(10)) == [])
        #expect(machine.timerFired(.ping, now: .seconds(20)) == [.send(Self.ping), .scheduleTimer(.ping, at: .seconds(30))])
        #expect(machine.frameReceived(Self.reply(xid: -2, zxid: 5), on: Self.first, now: .seconds(21)) == [])
        #expect(machine.timerFired(.ping, now: .seconds(30)) == [.send(Self.ping), .scheduleTimer(.ping, at: .seconds(40))])
        #expect(machine.lastZxidSeen == 0, "ping replies do not move the last zxid seen")
    }

    @Test("A stale or early ping timer does not send twice")
    func staleTimers() {
        var machine = Self.connected()
        #expect(machine.timerFired(.ping, now: .seconds(9)) == [.scheduleTimer(.ping, at: .seconds(10))])
        #expect(machine.timerFired(.sessionExpiry, now: .seconds(100)) == [])
        #expect(machine.timerFired(.handshake, now: .seconds(100)) == [])
    }

    @Test("Silence for two thirds of the timeout suspends the session and reconnects at once")
    func silentServer() {
        var machine = Self.connected()
        _ = machine.timerFired(.ping, now: .seconds(10))  // never answered
        let actions = machine.timerFired(.ping, now: .seconds(20))
        #expect(actions == [
            .closeConnection(Self.first, reason: ToozError(.timedOut, "no reply from the ZooKeeper server for 20.0 seconds")),
            .cancelTimer(.ping), .cancelTimer(.handshake), .sessionSuspended,
            .scheduleTimer(.sessionExpiry, at: .seconds(30)), .openConnection(Self.second, after: .zero),
        ])
        #expect(machine.isSuspended)
        #expect(machine.expiryDeadline == .seconds(30))
    }

    // MARK: Requests

    @Test("A request gets xid 1, its reply completes it and moves the last zxid; a getData watch is registered")
    func requestReply() {
        var machine = Self.connected()
        let send = machine.sendRequest(.getData(ZooKeeperGetDataRequest(path: "/tooz/g/m", watch: true)), context: 7, now: .seconds(1))
        #expect(send == [.send(Self.frame(JuteBytes().int(1).int(4).string("/tooz/g/m").bool(true)))])
        #expect(machine.outstandingRequestCount == 1)
        let reply = machine.frameReceived(
            Self.reply(xid: 1, zxid: 0x99, JuteBytes().buffer([1, 2]).stat(sampleStat)),
            on: Self.first,
            now: .seconds(1)
        )
        #expect(reply == [.completeRequest(7, .success(.data(ZooKeeperGetDataResponse(data: [1, 2], stat: sampleStat))))])
        #expect(machine.lastZxidSeen == 0x99)
        #expect(machine.watches == ZooKeeperWatches(data: ["/tooz/g/m"]))
        #expect(machine.outstandingRequestCount == 0)
    }

    @Test("Every request kind decodes its own reply")
    func requestKinds() {
        var machine = Self.connected()
        let create = ZooKeeperCreateRequest(path: "/l/x__lock__", data: [], mode: .ephemeralSequential)
        let cases: [(ZooKeeperRequest, JuteBytes, ZooKeeperResponse)] = [
            (.create(create), JuteBytes().string("/l/x__lock__0000000001"), .created(path: "/l/x__lock__0000000001")),
            (
                .create2(create), JuteBytes().string("/l/x__lock__0000000002").stat(sampleStat),
                .created2(ZooKeeperCreate2Response(path: "/l/x__lock__0000000002", stat: sampleStat))
            ),
            (.delete(ZooKeeperDeleteRequest(path: "/l/a")), JuteBytes(), .deleted),
            (.exists(ZooKeeperExistsRequest(path: "/l")), JuteBytes().stat(sampleStat), .stat(sampleStat)),
            (.setData(ZooKeeperSetDataRequest(path: "/l", data: [1])), JuteBytes().stat(sampleStat), .stat(sampleStat)),
            (
                .getChildren2(ZooKeeperGetChildren2Request(path: "/l")), JuteBytes().int(1).string("a").stat(sampleStat),
                .children(ZooKeeperGetChildren2Response(children: ["a"], stat: sampleStat))
            ),
            (
                .multi(ZooKeeperMultiRequest(operations: [.check(ZooKeeperCheckVersionRequest(path: "/l", version: 1))])),
                JuteBytes().int(-1).bool(false).int(-103).int(-103).int(-1).bool(true).int(-1),
                .multi(ZooKeeperMultiResponse(results: [.error(.badVersion)]))
            ),
        ]
        for (index, (request, body, response)) in cases.enumerated() {
            let xid = Int32(index + 1)
            #expect(machine.sendRequest(request, context: index, now: .seconds(1)) == [.send(try! request.frame(xid: xid))])
            #expect(
                machine.frameReceived(Self.reply(xid: xid, zxid: Int64(100 + index), body), on: Self.first, now: .seconds(1))
                    == [.completeRequest(index, .success(response))]
            )
        }
        #expect(machine.lastZxidSeen == 106)
    }

    @Test("Server errors complete the request; an exists that finds no node leaves an exist watch")
    func serverErrors() {
        var machine = Self.connected()
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/l/p", watch: true)), context: 1, now: .seconds(1))
        _ = machine.sendRequest(.getData(ZooKeeperGetDataRequest(path: "/l/q", watch: true)), context: 2, now: .seconds(1))
        _ = machine.sendRequest(.create(ZooKeeperCreateRequest(path: "/g", mode: .persistent)), context: 3, now: .seconds(1))
        #expect(machine.frameReceived(Self.reply(xid: 1, zxid: 10, err: -101), on: Self.first, now: .seconds(1)) == [
            .completeRequest(1, .failure(.noNode))
        ])
        #expect(machine.frameReceived(Self.reply(xid: 2, zxid: 10, err: -101), on: Self.first, now: .seconds(1)) == [
            .completeRequest(2, .failure(.noNode))
        ])
        #expect(machine.frameReceived(Self.reply(xid: 3, zxid: 10, err: -110), on: Self.first, now: .seconds(1)) == [
            .completeRequest(3, .failure(.nodeExists))
        ])
        #expect(machine.watches == ZooKeeperWatches(exist: ["/l/p"]), "getData on a missing node leaves no watch")
    }

    @Test("A reply whose xid is not the oldest outstanding one is a protocol error: in-flight requests fail with connection loss")
    func outOfOrderXid() {
        var machine = Self.connected()
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/a")), context: 1, now: .seconds(1))
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/b")), context: 2, now: .seconds(1))
        let actions = machine.frameReceived(Self.reply(xid: 2, zxid: 10, JuteBytes().stat(sampleStat)), on: Self.first, now: .seconds(2))
        #expect(actions == [
            .closeConnection(Self.first, reason: ToozError(.backendError, "ZooKeeper reply out of order: got xid 2, expected 1")),
            .failRequests([1, 2], .connectionLoss), .cancelTimer(.ping), .cancelTimer(.handshake), .sessionSuspended,
            .scheduleTimer(.sessionExpiry, at: .seconds(30)), .openConnection(Self.second, after: .zero),
        ])
        // A reply with nothing outstanding is just as wrong.
        var idle = Self.connected()
        let unexpected = idle.frameReceived(Self.reply(xid: 5, zxid: 1), on: Self.first, now: .seconds(1))
        #expect(unexpected.first == .closeConnection(Self.first, reason: ToozError(.backendError, "ZooKeeper reply out of order: got xid 5, expected none")))
    }

    @Test("A reply body that does not decode fails that request with a marshalling error and drops the connection")
    func malformedReplyBody() {
        var machine = Self.connected()
        _ = machine.sendRequest(.getData(ZooKeeperGetDataRequest(path: "/a")), context: 1, now: .seconds(1))
        _ = machine.sendRequest(.getData(ZooKeeperGetDataRequest(path: "/b")), context: 2, now: .seconds(1))
        let actions = machine.frameReceived(Self.reply(xid: 1, zxid: 10, JuteBytes().int(1_000)), on: Self.first, now: .seconds(1))
        #expect(actions.first == .completeRequest(1, .failure(.marshallingError)))
        #expect(actions.contains(.failRequests([2], .connectionLoss)))
        #expect(actions.contains(.sessionSuspended))
        guard case .closeConnection(Self.first, let reason)? = actions.dropFirst().first else {
            Issue.record("expected a close, got \(actions)")
            return
        }
        #expect(reason?.code == .backendError)
    }

    @Test("A truncated reply header drops the connection")
    func truncatedHeader() {
        var machine = Self.connected()
        let actions = machine.frameReceived(JuteBytes().int(1).byteBuffer, on: Self.first, now: .seconds(1))
        #expect(actions.contains(.sessionSuspended))
    }

    // MARK: Watches

    @Test("Notifications (xid -1) are delivered and consume the watches they trigger")
    func notifications() {
        var machine = Self.connected()
        _ = machine.sendRequest(.getChildren2(ZooKeeperGetChildren2Request(path: "/tooz/g", watch: true)), context: 1, now: .zero)
        _ = machine.frameReceived(Self.reply(xid: 1, zxid: 3, JuteBytes().int(0).stat(sampleStat)), on: Self.first, now: .zero)
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/tooz/g/m", watch: true)), context: 2, now: .zero)
        _ = machine.frameReceived(Self.reply(xid: 2, zxid: 3, err: -101), on: Self.first, now: .zero)
        #expect(machine.watches == ZooKeeperWatches(exist: ["/tooz/g/m"], child: ["/tooz/g"]))

        #expect(machine.frameReceived(Self.notification(1, "/tooz/g/m"), on: Self.first, now: .seconds(1)) == [
            .deliverWatchEvent(ZooKeeperWatcherEvent(type: .nodeCreated, path: "/tooz/g/m"))
        ])
        #expect(machine.watches == ZooKeeperWatches(child: ["/tooz/g"]))
        #expect(machine.frameReceived(Self.notification(4, "/tooz/g"), on: Self.first, now: .seconds(1)) == [
            .deliverWatchEvent(ZooKeeperWatcherEvent(type: .nodeChildrenChanged, path: "/tooz/g"))
        ])
        #expect(machine.watches.isEmpty)
        #expect(machine.lastZxidSeen == 3, "notifications carry zxid -1")
    }

    @Test("Watch removal follows the Java client's rules")
    func watchRemoval() {
        var watches = ZooKeeperWatches(data: ["/a", "/b"], exist: ["/c"], child: ["/a", "/b"])
        watches.remove(triggeredBy: ZooKeeperWatcherEvent(type: .nodeDataChanged, path: "/a"))
        #expect(watches == ZooKeeperWatches(data: ["/b"], exist: ["/c"], child: ["/a", "/b"]))
        watches.remove(triggeredBy: ZooKeeperWatcherEvent(type: .nodeDeleted, path: "/b"))
        #expect(watches == ZooKeeperWatches(exist: ["/c"], child: ["/a"]))
        watches.remove(triggeredBy: ZooKeeperWatcherEvent(type: .none, path: ""))
        watches.remove(triggeredBy: ZooKeeperWatcherEvent(type: .nodeCreated, path: "/c"))
        #expect(watches == ZooKeeperWatches(child: ["/a"]))
    }

    @Test("setWatches packets are sorted and split at the byte limit")
    func setWatchesSplitting() {
        let watches = ZooKeeperWatches(data: ["/d2", "/d1"], exist: ["/e1"], child: ["/c1"])
        #expect(watches.setWatchesPackets(relativeZxid: 9, maximumPathBytes: 1_000) == [
            ZooKeeperSetWatches(relativeZxid: 9, dataWatches: ["/d1", "/d2"], existWatches: ["/e1"], childWatches: ["/c1"])
        ])
        // Each path costs its bytes plus a 4-byte length: two per packet with a 14-byte limit.
        #expect(watches.setWatchesPackets(relativeZxid: 9, maximumPathBytes: 14) == [
            ZooKeeperSetWatches(relativeZxid: 9, dataWatches: ["/d1", "/d2"], existWatches: [], childWatches: []),
            ZooKeeperSetWatches(relativeZxid: 9, dataWatches: [], existWatches: ["/e1"], childWatches: ["/c1"]),
        ])
        #expect(ZooKeeperWatches().setWatchesPackets(relativeZxid: 1, maximumPathBytes: 10).isEmpty)
    }

    // MARK: Suspension, reconnect, expiry

    /// Connected at 0, a getChildren watch and a data watch registered at zxid 0x50, a ping
    /// answered at 10 s, then the connection drops at 15 s.
    private static func suspendedWithWatches() -> Machine {
        var machine = connected()
        _ = machine.sendRequest(.getChildren2(ZooKeeperGetChildren2Request(path: "/tooz/g", watch: true)), context: 1, now: .seconds(1))
        _ = machine.frameReceived(reply(xid: 1, zxid: 0x50, JuteBytes().int(0).stat(sampleStat)), on: first, now: .seconds(1))
        _ = machine.sendRequest(.getData(ZooKeeperGetDataRequest(path: "/tooz/g/m", watch: true)), context: 2, now: .seconds(2))
        _ = machine.frameReceived(reply(xid: 2, zxid: 0x40, JuteBytes().buffer([]).stat(sampleStat)), on: first, now: .seconds(2))
        _ = machine.timerFired(.ping, now: .seconds(10))
        _ = machine.frameReceived(reply(xid: -2, zxid: 0x50), on: first, now: .seconds(10))
        return machine
    }

    @Test("Connection loss suspends the session until the send time of the last answered request plus the timeout")
    func suspension() {
        var machine = Self.suspendedWithWatches()
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/x")), context: 3, now: .seconds(14))
        let actions = machine.connectionLost(Self.first, now: .seconds(15))
        #expect(actions == [
            .failRequests([3], .connectionLoss), .cancelTimer(.ping), .cancelTimer(.handshake), .sessionSuspended,
            .scheduleTimer(.sessionExpiry, at: .seconds(40)), .openConnection(Self.second, after: .zero),
        ])
        #expect(machine.isSuspended && !machine.isConnected)
        #expect(machine.expiryDeadline == .seconds(40))
        // Events from the old connection are ignored from now on.
        #expect(machine.connectionLost(Self.first, now: .seconds(15)) == [])
        #expect(machine.frameReceived(Self.reply(xid: -2, zxid: 1), on: Self.first, now: .seconds(15)) == [])
    }

    @Test("A reconnect within the timeout resumes the session and re-registers the watches with the last zxid")
    func reconnectResumes() {
        var machine = Self.suspendedWithWatches()
        _ = machine.connectionLost(Self.first, now: .seconds(15))
        // Requests made while suspended wait for the connection.
        #expect(machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/q")), context: 9, now: .seconds(16)) == [])
        #expect(
            machine.transportEstablished(Self.second, now: .seconds(17)) == [
                .send(Self.connectRequest(zxid: 0x50, sessionID: Self.sessionID, password: Self.password)),
                .scheduleTimer(.handshake, at: .seconds(47)),
            ]
        )
        let setWatches = Self.frame(
            JuteBytes().int(-8).int(101).long(0x50).int(1).string("/tooz/g/m").int(0).int(1).string("/tooz/g")
        )
        let actions = machine.frameReceived(Self.connectResponse(), on: Self.second, now: .seconds(18))
        #expect(actions == [
            .cancelTimer(.handshake), .cancelTimer(.sessionExpiry), .sessionResumed(Self.session), .send(setWatches),
            .send(Self.frame(JuteBytes().int(3).int(3).string("/q").bool(false))), .scheduleTimer(.ping, at: .seconds(28)),
        ])
        #expect(machine.isConnected && !machine.isSuspended)
        // The setWatches reply (xid -8) comes first, then the queued request's.
        #expect(machine.frameReceived(Self.reply(xid: -8, zxid: 0x50), on: Self.second, now: .seconds(18)) == [])
        #expect(
            machine.frameReceived(Self.reply(xid: 3, zxid: 0x51, err: -101), on: Self.second, now: .seconds(18)) == [
                .completeRequest(9, .failure(.noNode))
            ]
        )
        // The expiry timer of the suspension no longer does anything.
        #expect(machine.timerFired(.sessionExpiry, now: .seconds(40)) == [])
    }

    @Test("No reconnect within the timeout: the session expires and waiting requests fail")
    func expiryAfterTimeout() {
        var machine = Self.suspendedWithWatches()
        _ = machine.connectionLost(Self.first, now: .seconds(15))
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/q")), context: 9, now: .seconds(16))
        #expect(machine.transportFailed(Self.second, now: .seconds(20)) == [.openConnection(ZooKeeperConnectionID(3), after: .milliseconds(50))])
        _ = machine.transportEstablished(ZooKeeperConnectionID(3), now: .seconds(30))
        #expect(machine.timerFired(.sessionExpiry, now: .seconds(39)) == [.scheduleTimer(.sessionExpiry, at: .seconds(40))])
        #expect(machine.timerFired(.sessionExpiry, now: .seconds(40)) == [
            .closeConnection(ZooKeeperConnectionID(3), reason: nil), .cancelTimer(.ping), .cancelTimer(.handshake),
            .cancelTimer(.sessionExpiry), .failRequests([9], .sessionExpired), .sessionExpired,
        ])
        #expect(machine.watches.isEmpty)
        #expect(
            machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/q")), context: 10, now: .seconds(41)) == [
                .completeRequest(10, .failure(.sessionExpired))
            ]
        )
        // A late handshake reply for the abandoned connection is ignored.
        #expect(machine.frameReceived(Self.connectResponse(), on: ZooKeeperConnectionID(3), now: .seconds(41)) == [])
    }

    @Test("A connection lost after the expiry deadline expires the session at once")
    func lossPastDeadline() {
        var machine = Self.connected()
        let actions = machine.connectionLost(Self.first, now: .seconds(31))
        #expect(actions == [.cancelTimer(.ping), .cancelTimer(.handshake), .cancelTimer(.sessionExpiry), .sessionExpired])
    }

    @Test("The server says the session expired (timeout 0) on reconnect; a new session starts from there")
    func serverSideExpiry() {
        var machine = Self.suspendedWithWatches()
        _ = machine.connectionLost(Self.first, now: .seconds(15))
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/q")), context: 9, now: .seconds(16))
        _ = machine.transportEstablished(Self.second, now: .seconds(17))
        let actions = machine.frameReceived(Self.connectResponse(timeout: 0, sessionID: 0), on: Self.second, now: .seconds(17))
        #expect(actions == [
            .closeConnection(Self.second, reason: nil), .cancelTimer(.ping), .cancelTimer(.handshake),
            .cancelTimer(.sessionExpiry), .failRequests([9], .sessionExpired), .sessionExpired,
        ])
        #expect(machine.watches.isEmpty)

        // A new session: id 0, zero password, but the last zxid seen is kept.
        #expect(machine.start(now: .seconds(18)) == [.openConnection(ZooKeeperConnectionID(3), after: .zero)])
        #expect(machine.session == nil)
        #expect(machine.transportEstablished(ZooKeeperConnectionID(3), now: .seconds(18)).first == .send(Self.connectRequest(zxid: 0x50)))
        let established = machine.frameReceived(Self.connectResponse(sessionID: 77), on: ZooKeeperConnectionID(3), now: .seconds(18))
        #expect(established.contains(.sessionEstablished(ZooKeeperSession(id: 77, password: Self.password, timeout: .seconds(30)))))
        #expect(!established.contains { if case .send = $0 { true } else { false } }, "no setWatches for a new session")
    }

    @Test("A different session id on reconnect means the old session is gone")
    func differentSessionOnReconnect() {
        var machine = Self.connected()
        _ = machine.connectionLost(Self.first, now: .seconds(5))
        _ = machine.transportEstablished(Self.second, now: .seconds(6))
        let actions = machine.frameReceived(Self.connectResponse(sessionID: 1234), on: Self.second, now: .seconds(6))
        #expect(actions.first == .closeConnection(Self.second, reason: nil))
        #expect(actions.last == .sessionExpired)
    }

    @Test("A connection the machine no longer wants is closed when it comes up")
    func unwantedTransport() {
        var machine = Self.connected()
        #expect(machine.transportEstablished(Self.second, now: .seconds(1)) == [.closeConnection(Self.second, reason: nil)])
    }

    // MARK: Closing

    @Test("close() sends closeSession, earlier replies still arrive, the close reply ends the session")
    func closeSession() {
        var machine = Self.connected()
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/a")), context: 1, now: .seconds(1))
        #expect(machine.close(now: .seconds(1)) == [.cancelTimer(.ping), .send(Self.frame(JuteBytes().int(2).int(-11)))])
        #expect(
            machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/b")), context: 2, now: .seconds(1)) == [
                .completeRequest(2, .failure(.sessionExpired))
            ]
        )
        #expect(machine.frameReceived(Self.reply(xid: 1, zxid: 5, err: -101), on: Self.first, now: .seconds(1)) == [
            .completeRequest(1, .failure(.noNode))
        ])
        #expect(machine.frameReceived(Self.reply(xid: 2, zxid: 6), on: Self.first, now: .seconds(1)) == [
            .closeConnection(Self.first, reason: nil), .cancelTimer(.ping), .cancelTimer(.handshake),
            .cancelTimer(.sessionExpiry), .sessionClosed,
        ])
        #expect(machine.close(now: .seconds(2)) == [])
    }

    @Test("close() while suspended gives up the connection attempt and fails what waits")
    func closeWhileSuspended() {
        var machine = Self.connected()
        _ = machine.connectionLost(Self.first, now: .seconds(5))
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/a")), context: 1, now: .seconds(5))
        #expect(machine.close(now: .seconds(6)) == [
            .closeConnection(Self.second, reason: nil), .cancelTimer(.ping), .cancelTimer(.handshake),
            .cancelTimer(.sessionExpiry), .failRequests([1], .sessionExpired), .sessionClosed,
        ])
    }

    @Test("The connection dropping during close ends the session too")
    func connectionLostWhileClosing() {
        var machine = Self.connected()
        _ = machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/a")), context: 1, now: .seconds(1))
        _ = machine.close(now: .seconds(1))
        #expect(machine.connectionLost(Self.first, now: .seconds(2)) == [
            .cancelTimer(.ping), .cancelTimer(.handshake), .cancelTimer(.sessionExpiry),
            .failRequests([1], .sessionExpired), .sessionClosed,
        ])
    }

    @Test("Requests made before the first connection are sent after the handshake, in order")
    func queuedBeforeStart() {
        var machine = Machine(configuration: Machine.Configuration(sessionTimeout: .seconds(30)))
        #expect(machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/a")), context: 1, now: .zero) == [])
        _ = machine.start(now: .zero)
        #expect(machine.sendRequest(.exists(ZooKeeperExistsRequest(path: "/b")), context: 2, now: .zero) == [])
        _ = machine.transportEstablished(Self.first, now: .zero)
        let actions = machine.frameReceived(Self.connectResponse(), on: Self.first, now: .zero)
        #expect(actions == [
            .cancelTimer(.handshake), .sessionEstablished(Self.session),
            .send(Self.frame(JuteBytes().int(1).int(3).string("/a").bool(false))),
            .send(Self.frame(JuteBytes().int(2).int(3).string("/b").bool(false))),
            .scheduleTimer(.ping, at: .seconds(10)),
        ])
    }
}
