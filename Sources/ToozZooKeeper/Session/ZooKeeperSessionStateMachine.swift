import NIOCore
import Tooz

/// The client side of one ZooKeeper session, as a pure value: events in, actions out.
///
/// It owns everything about the protocol that is not I/O: the handshake (new or resumed
/// session), xids and reply matching, pings, the liveness of the connection, watch bookkeeping
/// and re-registration, suspension and expiry, authentication and closing. The channel handler
/// that drives it only executes the returned actions, and reports transport events and timer
/// expiries back. Time comes in as `now:` values read from the injected clock (a monotonic
/// reading, as ``ToozClock/now()`` returns); the machine never reads a clock.
///
/// ## The shell's part
/// - ``Action/openConnection(_:after:)``: after the delay, connect to the *next* server of the
///   ensemble (round robin over the list) and report ``transportEstablished(_:now:)`` or
///   ``transportFailed(_:now:)`` with that connection id.
/// - ``Action/send(_:)``: write the frame (length prefix included) to the current connection.
/// - ``Action/closeConnection(_:reason:)``: close that connection; its closure need not be
///   reported (events for connections the machine gave up on are ignored).
/// - ``Action/scheduleTimer(_:at:)`` replaces any earlier schedule of that timer; report it
///   with ``timerFired(_:now:)``. Early or stale reports are ignored, so cancelling is an
///   optimisation.
/// - ``Action/completeRequest(_:_:)`` and ``Action/failRequests(_:_:)`` complete the
///   contexts given to ``sendRequest(_:context:now:)``.
///
/// ## Liveness
/// The server expires a session when it has heard nothing from the client for the session
/// timeout. The machine keeps a conservative estimate of the last time the server touched the
/// session: the *send* time of the latest request (ping included) whose reply came back. When
/// the connection is lost the session is *suspended*, and it is declared *expired* at that
/// estimate plus the negotiated timeout unless a reconnect resumed it first. A connection that
/// has been silent for two thirds of the timeout (two missed pings) is dropped as dead.
package struct ZooKeeperSessionStateMachine<RequestContext> {
    /// What the session asks for and how it retries.
    package struct Configuration: Sendable, Hashable {
        /// The session timeout to request.
        package var sessionTimeout: Duration
        /// How long one handshake may take before the connection is dropped and the next
        /// server tried.
        package var connectTimeout: Duration
        /// Sent after every handshake (digest credentials).
        package var authPackets: [ZooKeeperAuthPacket]
        /// How many servers the shell rotates over: that many consecutive attempts are made
        /// without delay before backing off.
        package var serverCount: Int
        /// The first delay once every server has failed in a row; it doubles per failure.
        package var initialReconnectDelay: Duration
        /// The longest delay between two connection attempts.
        package var maximumReconnectDelay: Duration
        /// The most path bytes one `SetWatches` packet carries (the Java client's 128 KiB).
        package var maximumSetWatchesPathBytes: Int

        /// - Parameters:
        ///   - connectTimeout: defaults to the session timeout divided by the number of
        ///     servers, as in the Java client.
        package init(
            sessionTimeout: Duration,
            connectTimeout: Duration? = nil,
            authPackets: [ZooKeeperAuthPacket] = [],
            serverCount: Int = 1,
            initialReconnectDelay: Duration = .milliseconds(50),
            maximumReconnectDelay: Duration = .seconds(1),
            maximumSetWatchesPathBytes: Int = 128 * 1024
        ) {
            self.sessionTimeout = sessionTimeout
            self.serverCount = max(serverCount, 1)
            self.connectTimeout = connectTimeout ?? sessionTimeout / max(serverCount, 1)
            self.authPackets = authPackets
            self.initialReconnectDelay = initialReconnectDelay
            self.maximumReconnectDelay = maximumReconnectDelay
            self.maximumSetWatchesPathBytes = maximumSetWatchesPathBytes
        }
    }

    /// The timers the machine asks for.
    package enum Timer: Hashable, Sendable {
        /// Every third of the negotiated timeout while connected: send a ping and check that
        /// the server is still answering.
        case ping
        /// The handshake on a new connection took too long.
        case handshake
        /// A suspended session has outlived its timeout.
        case sessionExpiry
    }

    /// What the shell must do.
    package enum Action {
        /// Open a connection to the next server after `delay`, and report it under this id.
        case openConnection(ZooKeeperConnectionID, after: Duration)
        /// Close this connection, or give up opening it. `reason` says why when it is an error
        /// (for the log).
        case closeConnection(ZooKeeperConnectionID, reason: ToozError?)
        /// Write this frame to the current connection.
        case send(ByteBuffer)
        case scheduleTimer(Timer, at: Duration)
        case cancelTimer(Timer)
        /// The reply to one request.
        case completeRequest(RequestContext, Result<ZooKeeperResponse, ZooKeeperErrorCode>)
        /// Requests that will get no reply: `connectionLoss` (they may or may not have been
        /// applied), `sessionExpired` (also used once the session is closed, as the Java
        /// client does) or `authFailed`.
        case failRequests([RequestContext], ZooKeeperErrorCode)
        /// A watch fired. Its path is the server's (chroot included).
        case deliverWatchEvent(ZooKeeperWatcherEvent)
        /// A new session exists: every earlier ephemeral node and watch is gone.
        case sessionEstablished(ZooKeeperSession)
        /// A reconnect kept the session: ephemeral nodes survived, watches were re-registered.
        case sessionResumed(ZooKeeperSession)
        /// The connection was lost while the session may still live: leases are uncertain.
        case sessionSuspended
        /// The session is gone (the server said so, or it stayed unreachable for its timeout):
        /// every ephemeral node and watch of it is lost. ``start(now:)`` opens a new session.
        case sessionExpired
        /// The server refused the credentials; the session is unusable.
        case authenticationFailed
        /// The session was closed by ``close(now:)``.
        case sessionClosed
    }

    private enum Phase {
        case idle
        case waitingForTransport(ZooKeeperConnectionID)
        case handshaking(ZooKeeperConnectionID, sentAt: Duration)
        case connected(ZooKeeperConnectionID)
        case closing(ZooKeeperConnectionID)
        case closed
        case expired
        case authenticationFailed
    }

    fileprivate struct WatchRegistration {
        var path: String
        var opCode: ZooKeeperOpCode
    }

    fileprivate enum PendingKind {
        case request(RequestContext, ZooKeeperOpCode, WatchRegistration?)
        case setWatches
        case closeSession
    }

    fileprivate struct Pending {
        var xid: Int32
        var kind: PendingKind
        var sentAt: Duration
    }

    fileprivate struct Unsent {
        var request: ZooKeeperRequest
        var context: RequestContext
    }

    package let configuration: Configuration
    private var phase: Phase = .idle
    /// The session, once a handshake granted one; kept while suspended.
    package private(set) var session: ZooKeeperSession?
    /// The highest zxid seen in a reply; sent in every handshake and setWatches.
    package private(set) var lastZxidSeen: Int64 = 0
    /// The watches to re-register after a reconnect.
    package private(set) var watches = ZooKeeperWatches()
    /// The server touched the session at or after this instant (see "Liveness").
    private var sessionTouchedAt: Duration = .zero
    private var lastReceivedAt: Duration = .zero
    private var nextXid: Int32 = 1
    private var nextConnection = 0
    private var failedAttempts = 0
    private var pending = CircularBuffer<Pending>()
    private var pingsInFlight = CircularBuffer<Duration>()
    private var unsent = CircularBuffer<Unsent>()
    private var deadlines: [Timer: Duration] = [:]
    /// Credentials added with ``addAuthentication(_:)``, sent after every later handshake too.
    private var addedAuthPackets: [ZooKeeperAuthPacket] = []

    package init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: - Observations

    /// Whether requests are sent now (rather than queued).
    package var isConnected: Bool {
        if case .connected = self.phase { return true }
        return false
    }

    /// Whether a session exists but has no working connection: leases are uncertain.
    package var isSuspended: Bool {
        switch self.phase {
        case .waitingForTransport, .handshaking: self.session != nil
        default: false
        }
    }

    /// The instant at which a suspended session is considered expired, `nil` when not suspended.
    package var expiryDeadline: Duration? {
        guard self.isSuspended, let session else { return nil }
        return self.sessionTouchedAt + session.timeout
    }

    /// Requests sent and not answered yet, plus requests waiting for a connection.
    package var outstandingRequestCount: Int {
        self.unsent.count
            + self.pending.lazy.filter {
                if case .request = $0.kind { return true }
                return false
            }.count
    }

    // MARK: - Events

    /// Starts connecting: the first session, or a new one after ``Action/sessionExpired``.
    package mutating func start(now: Duration) -> [Action] {
        switch self.phase {
        case .idle:
            break
        case .expired:
            self.session = nil
            self.watches = ZooKeeperWatches()
        case .waitingForTransport, .handshaking, .connected, .closing, .closed, .authenticationFailed:
            preconditionFailure("start() in phase \(self.phase)")
        }
        self.failedAttempts = 0
        return [self.openNextConnection(after: .zero)]
    }

    /// The connection asked for by ``Action/openConnection(_:after:)`` is up: the handshake
    /// starts.
    package mutating func transportEstablished(_ connection: ZooKeeperConnectionID, now: Duration) -> [Action] {
        guard case .waitingForTransport(let current) = self.phase, current == connection else {
            // A connection we no longer want (a close or an expiry overtook it).
            return [.closeConnection(connection, reason: nil)]
        }
        let request = ZooKeeperConnectRequest(
            lastZxidSeen: self.lastZxidSeen,
            timeOut: Self.milliseconds(self.configuration.sessionTimeout),
            sessionID: self.session?.id ?? 0,
            password: self.session?.password ?? ZooKeeperConnectRequest.newSessionPassword
        )
        let frame: ByteBuffer
        do {
            frame = try JuteWriter.frame { (writer) throws(ToozError) in try writer.writeRecord(request) }
        } catch {
            preconditionFailure("a ConnectRequest always encodes: \(error)")
        }
        self.phase = .handshaking(connection, sentAt: now)
        self.lastReceivedAt = now
        return [.send(frame), self.schedule(.handshake, at: now + self.configuration.connectTimeout)]
    }

    /// The connection asked for could not be opened.
    package mutating func transportFailed(_ connection: ZooKeeperConnectionID, now: Duration) -> [Action] {
        guard case .waitingForTransport(let current) = self.phase, current == connection else { return [] }
        self.failedAttempts += 1
        if let deadline = self.expiryDeadline, now >= deadline {
            return self.expire(closing: nil)
        }
        return [self.openNextConnection(after: self.reconnectDelay())]
    }

    /// The connection closed or failed under us.
    package mutating func connectionLost(_ connection: ZooKeeperConnectionID, now: Duration) -> [Action] {
        switch self.phase {
        case .handshaking(let current, _) where current == connection,
            .connected(let current) where current == connection:
            return self.loseConnection(now: now, closeTransport: false, reason: nil)
        case .closing(let current) where current == connection:
            return self.finishClosing(closeTransport: false)
        default:
            return []
        }
    }

    /// One frame (without its length prefix) arrived on `connection`.
    package mutating func frameReceived(_ frame: ByteBuffer, on connection: ZooKeeperConnectionID, now: Duration) -> [Action] {
        switch self.phase {
        case .handshaking(let current, let sentAt) where current == connection:
            self.lastReceivedAt = now
            return self.handshakeReplied(frame, connection: connection, sentAt: sentAt, now: now)
        case .connected(let current) where current == connection,
            .closing(let current) where current == connection:
            self.lastReceivedAt = now
            return self.replyReceived(frame, connection: connection, now: now)
        default:
            return []
        }
    }

    /// A timer asked for by ``Action/scheduleTimer(_:at:)`` fired.
    package mutating func timerFired(_ timer: Timer, now: Duration) -> [Action] {
        guard let deadline = self.deadlines[timer] else { return [] }
        guard now >= deadline else {
            // Fired early (the scheduler's clock ran ahead of ours): arm it again rather than
            // lose it.
            return [.scheduleTimer(timer, at: deadline)]
        }
        self.deadlines[timer] = nil
        switch (timer, self.phase) {
        case (.ping, .connected):
            return self.pingDue(now: now)
        case (.handshake, .handshaking):
            return self.loseConnection(
                now: now,
                closeTransport: true,
                reason: ToozError(.timedOut, "timed out waiting for the ZooKeeper handshake (no reply within \(self.configuration.connectTimeout))")
            )
        case (.sessionExpiry, .waitingForTransport(let connection)), (.sessionExpiry, .handshaking(let connection, _)):
            guard let expiry = self.expiryDeadline, now >= expiry else { return [] }
            return self.expire(closing: connection)
        default:
            return []
        }
    }

    /// Sends `request` now if connected, queues it until the (re)connection otherwise, or
    /// fails it at once when the session is over.
    package mutating func sendRequest(_ request: ZooKeeperRequest, context: RequestContext, now: Duration) -> [Action] {
        switch self.phase {
        case .connected:
            return [self.transmit(request, context: context, now: now)]
        case .idle, .waitingForTransport, .handshaking:
            self.unsent.append(Unsent(request: request, context: context))
            return []
        case .closing, .closed, .expired:
            return [.completeRequest(context, .failure(.sessionExpired))]
        case .authenticationFailed:
            return [.completeRequest(context, .failure(.authFailed))]
        }
    }

    /// Adds credentials to the session (the Java client's `addAuthInfo`): sent at once when
    /// connected, and after every later handshake, so a reconnect keeps the identity. A refusal
    /// ends the session with ``Action/authenticationFailed``, as for the configured credentials.
    package mutating func addAuthentication(_ packet: ZooKeeperAuthPacket) -> [Action] {
        switch self.phase {
        case .closing, .closed, .authenticationFailed:
            return []
        case .idle, .waitingForTransport, .handshaking, .connected, .expired:
            break
        }
        self.addedAuthPackets.append(packet)
        guard case .connected = self.phase else { return [] }
        return [.send(Self.frame(xid: ZooKeeperXid.auth, type: .auth, body: packet))]
    }

    /// Ends the session: a `closeSession` request when connected (the server then deletes the
    /// session's ephemeral nodes at once), else just the connection.
    package mutating func close(now: Duration) -> [Action] {
        switch self.phase {
        case .connected(let connection):
            var actions = self.failUnsent(.sessionExpired)
            let xid = self.allocateXid()
            let frame: ByteBuffer
            do {
                frame = try JuteWriter.frame { (writer) throws(ToozError) in
                    try writer.writeRecord(ZooKeeperRequestHeader(xid: xid, type: .closeSession))
                }
            } catch {
                preconditionFailure("a closeSession header always encodes: \(error)")
            }
            self.pending.append(Pending(xid: xid, kind: .closeSession, sentAt: now))
            self.phase = .closing(connection)
            actions.append(self.cancel(.ping))
            actions.append(.send(frame))
            return actions
        case .idle, .expired, .authenticationFailed:
            self.phase = .closed
            var actions = self.failUnsent(.sessionExpired)
            actions.append(.sessionClosed)
            return actions
        case .waitingForTransport(let connection), .handshaking(let connection, _):
            var actions: [Action] = [.closeConnection(connection, reason: nil)]
            actions.append(contentsOf: self.cancelAllTimers())
            actions.append(contentsOf: self.failPending(.sessionExpired))
            actions.append(contentsOf: self.failUnsent(.sessionExpired))
            self.phase = .closed
            self.watches = ZooKeeperWatches()
            actions.append(.sessionClosed)
            return actions
        case .closing, .closed:
            return []
        }
    }

    // MARK: - Handshake

    private mutating func handshakeReplied(
        _ frame: ByteBuffer,
        connection: ZooKeeperConnectionID,
        sentAt: Duration,
        now: Duration
    ) -> [Action] {
        let response: ZooKeeperConnectResponse
        do {
            var reader = JuteReader(buffer: frame)
            response = try reader.readRecord()
            try reader.expectEnd(of: "ConnectResponse")
        } catch {
            return self.loseConnection(now: now, closeTransport: true, reason: error)
        }
        if response.timeOut <= 0 {
            // The server no longer knows the session we asked to resume.
            return self.expire(closing: connection)
        }
        if let previous = self.session, previous.id != response.sessionID {
            return self.expire(closing: connection)
        }
        let resumed = self.session != nil
        let session = ZooKeeperSession(
            id: response.sessionID,
            password: response.password,
            timeout: .milliseconds(Int64(response.timeOut))
        )
        self.session = session
        self.sessionTouchedAt = sentAt
        self.failedAttempts = 0
        self.phase = .connected(connection)

        var actions: [Action] = [self.cancel(.handshake)]
        if resumed {
            actions.append(self.cancel(.sessionExpiry))
            actions.append(.sessionResumed(session))
        } else {
            actions.append(.sessionEstablished(session))
        }
        for packet in self.configuration.authPackets + self.addedAuthPackets {
            actions.append(.send(Self.frame(xid: ZooKeeperXid.auth, type: .auth, body: packet)))
        }
        if resumed {
            let packets = self.watches.setWatchesPackets(
                relativeZxid: self.lastZxidSeen,
                maximumPathBytes: self.configuration.maximumSetWatchesPathBytes
            )
            for packet in packets {
                actions.append(.send(Self.frame(xid: ZooKeeperXid.setWatches, type: .setWatches, body: packet)))
                self.pending.append(Pending(xid: ZooKeeperXid.setWatches, kind: .setWatches, sentAt: now))
            }
        }
        while let queued = self.unsent.popFirst() {
            actions.append(self.transmit(queued.request, context: queued.context, now: now))
        }
        actions.append(self.schedule(.ping, at: now + self.pingInterval(session)))
        return actions
    }

    // MARK: - Replies

    private mutating func replyReceived(_ frame: ByteBuffer, connection: ZooKeeperConnectionID, now: Duration) -> [Action] {
        var reader = JuteReader(buffer: frame)
        let header: ZooKeeperReplyHeader
        do {
            header = try reader.readRecord()
        } catch {
            return self.loseConnection(now: now, closeTransport: true, reason: error)
        }
        switch header.xid {
        case ZooKeeperXid.notification:
            return self.notificationReceived(&reader, now: now)
        case ZooKeeperXid.ping:
            if let sentAt = self.pingsInFlight.popFirst() {
                self.sessionTouchedAt = max(self.sessionTouchedAt, sentAt)
            }
            return []
        case ZooKeeperXid.auth:
            guard header.err != .ok else { return [] }
            return self.authenticationRefused(connection: connection)
        default:
            break
        }
        guard let next = self.pending.first, next.xid == header.xid else {
            let expected = self.pending.first.map { "\($0.xid)" } ?? "none"
            return self.loseConnection(
                now: now,
                closeTransport: true,
                reason: ToozError(
                    .backendError,
                    "ZooKeeper reply out of order: got xid \(header.xid), expected \(expected)"
                )
            )
        }
        self.pending.removeFirst()
        self.sessionTouchedAt = max(self.sessionTouchedAt, next.sentAt)
        if header.zxid > 0 { self.lastZxidSeen = max(self.lastZxidSeen, header.zxid) }

        switch next.kind {
        case .setWatches:
            return []
        case .closeSession:
            return self.finishClosing(closeTransport: true)
        case .request(let context, let opCode, let watch):
            guard header.err == .ok else {
                if let watch, watch.opCode == .exists, header.err == .noNode {
                    self.watches.exist.insert(watch.path)
                }
                return [.completeRequest(context, .failure(header.err))]
            }
            let response: ZooKeeperResponse
            do {
                response = try ZooKeeperResponse.decode(for: opCode, from: &reader)
            } catch {
                var actions: [Action] = [.completeRequest(context, .failure(.marshallingError))]
                actions.append(contentsOf: self.loseConnection(now: now, closeTransport: true, reason: error))
                return actions
            }
            if let watch {
                switch watch.opCode {
                case .exists, .getData: self.watches.data.insert(watch.path)
                case .getChildren2: self.watches.child.insert(watch.path)
                default: break
                }
            }
            return [.completeRequest(context, .success(response))]
        }
    }

    private mutating func notificationReceived(_ reader: inout JuteReader, now: Duration) -> [Action] {
        let event: ZooKeeperWatcherEvent
        do {
            event = try reader.readRecord()
            try reader.expectEnd(of: "watcher event")
        } catch {
            return self.loseConnection(now: now, closeTransport: true, reason: error)
        }
        self.watches.remove(triggeredBy: event)
        return [.deliverWatchEvent(event)]
    }

    private mutating func authenticationRefused(connection: ZooKeeperConnectionID) -> [Action] {
        var actions: [Action] = [
            .closeConnection(connection, reason: ToozError(.connectionFailed, "ZooKeeper refused the digest credentials"))
        ]
        actions.append(contentsOf: self.cancelAllTimers())
        actions.append(contentsOf: self.failPending(.authFailed))
        actions.append(contentsOf: self.failUnsent(.authFailed))
        self.phase = .authenticationFailed
        self.watches = ZooKeeperWatches()
        actions.append(.authenticationFailed)
        return actions
    }

    // MARK: - Pings

    private mutating func pingDue(now: Duration) -> [Action] {
        guard let session else { preconditionFailure("connected without a session") }
        let readTimeout = session.timeout * 2 / 3
        if now - self.lastReceivedAt >= readTimeout {
            return self.loseConnection(
                now: now,
                closeTransport: true,
                reason: ToozError(.timedOut, "no reply from the ZooKeeper server for \(now - self.lastReceivedAt)")
            )
        }
        self.pingsInFlight.append(now)
        return [
            .send(Self.frame(xid: ZooKeeperXid.ping, type: .ping, body: nil)),
            self.schedule(.ping, at: now + self.pingInterval(session)),
        ]
    }

    private func pingInterval(_ session: ZooKeeperSession) -> Duration {
        session.timeout / 3
    }

    // MARK: - Connection loss, expiry, closing

    /// The current connection is gone: in-flight requests fail with `connectionLoss`, the
    /// session (if any) is suspended, and the next server is tried.
    private mutating func loseConnection(now: Duration, closeTransport: Bool, reason: ToozError?) -> [Action] {
        let connection: ZooKeeperConnectionID
        let wasConnected: Bool
        switch self.phase {
        case .handshaking(let current, _):
            connection = current
            wasConnected = false
        case .connected(let current):
            connection = current
            wasConnected = true
        default:
            preconditionFailure("loseConnection() in phase \(self.phase)")
        }
        var actions: [Action] = []
        if closeTransport { actions.append(.closeConnection(connection, reason: reason)) }
        actions.append(contentsOf: self.failPending(.connectionLoss))
        self.pingsInFlight.removeAll()
        let deadline = self.session.map { self.sessionTouchedAt + $0.timeout }
        if let deadline, now >= deadline {
            actions.append(contentsOf: self.expire(closing: nil))
            return actions
        }
        actions.append(self.cancel(.ping))
        actions.append(self.cancel(.handshake))
        if wasConnected, let deadline {
            actions.append(.sessionSuspended)
            actions.append(self.schedule(.sessionExpiry, at: deadline))
        }
        // A working connection that broke is retried at once on the next server; a handshake
        // that failed (timed out, refused, dropped) counts towards the backoff, so a server
        // that keeps closing new connections is not hammered.
        if !wasConnected { self.failedAttempts += 1 }
        actions.append(self.openNextConnection(after: wasConnected ? .zero : self.reconnectDelay()))
        return actions
    }

    /// The session is over: everything outstanding fails with `sessionExpired`.
    private mutating func expire(closing connection: ZooKeeperConnectionID?) -> [Action] {
        var actions: [Action] = []
        if let connection { actions.append(.closeConnection(connection, reason: nil)) }
        actions.append(contentsOf: self.cancelAllTimers())
        actions.append(contentsOf: self.failPending(.sessionExpired))
        actions.append(contentsOf: self.failUnsent(.sessionExpired))
        self.pingsInFlight.removeAll()
        self.phase = .expired
        self.watches = ZooKeeperWatches()
        actions.append(.sessionExpired)
        return actions
    }

    private mutating func finishClosing(closeTransport: Bool) -> [Action] {
        guard case .closing(let connection) = self.phase else {
            preconditionFailure("finishClosing() in phase \(self.phase)")
        }
        var actions: [Action] = []
        if closeTransport { actions.append(.closeConnection(connection, reason: nil)) }
        actions.append(contentsOf: self.cancelAllTimers())
        actions.append(contentsOf: self.failPending(.sessionExpired))
        actions.append(contentsOf: self.failUnsent(.sessionExpired))
        self.pingsInFlight.removeAll()
        self.phase = .closed
        self.watches = ZooKeeperWatches()
        actions.append(.sessionClosed)
        return actions
    }

    // MARK: - Helpers

    private mutating func openNextConnection(after delay: Duration) -> Action {
        self.nextConnection += 1
        let connection = ZooKeeperConnectionID(self.nextConnection)
        self.phase = .waitingForTransport(connection)
        return .openConnection(connection, after: delay)
    }

    /// No delay until every server has been tried once in a row, then exponential backoff.
    private func reconnectDelay() -> Duration {
        let beyond = self.failedAttempts - self.configuration.serverCount
        guard beyond >= 0 else { return .zero }
        var delay = self.configuration.initialReconnectDelay
        for _ in 0..<min(beyond, 16) {
            delay = delay * 2
            if delay >= self.configuration.maximumReconnectDelay { break }
        }
        return min(delay, self.configuration.maximumReconnectDelay)
    }

    private mutating func transmit(_ request: ZooKeeperRequest, context: RequestContext, now: Duration) -> Action {
        let xid = self.allocateXid()
        let frame: ByteBuffer
        do {
            frame = try request.frame(xid: xid)
        } catch {
            return .completeRequest(context, .failure(.marshallingError))
        }
        let watch = request.watchPath.map { WatchRegistration(path: $0, opCode: request.opCode) }
        self.pending.append(Pending(xid: xid, kind: .request(context, request.opCode, watch), sentAt: now))
        return .send(frame)
    }

    /// Positive xids in sending order, wrapping back to 1: negative ones are reserved.
    private mutating func allocateXid() -> Int32 {
        let xid = self.nextXid
        self.nextXid = xid == .max ? 1 : xid + 1
        return xid
    }

    private mutating func schedule(_ timer: Timer, at deadline: Duration) -> Action {
        self.deadlines[timer] = deadline
        return .scheduleTimer(timer, at: deadline)
    }

    private mutating func cancel(_ timer: Timer) -> Action {
        self.deadlines[timer] = nil
        return .cancelTimer(timer)
    }

    private mutating func cancelAllTimers() -> [Action] {
        [self.cancel(.ping), self.cancel(.handshake), self.cancel(.sessionExpiry)]
    }

    private mutating func failPending(_ code: ZooKeeperErrorCode) -> [Action] {
        var contexts: [RequestContext] = []
        while let entry = self.pending.popFirst() {
            if case .request(let context, _, _) = entry.kind { contexts.append(context) }
        }
        return contexts.isEmpty ? [] : [.failRequests(contexts, code)]
    }

    private mutating func failUnsent(_ code: ZooKeeperErrorCode) -> [Action] {
        var contexts: [RequestContext] = []
        while let entry = self.unsent.popFirst() { contexts.append(entry.context) }
        return contexts.isEmpty ? [] : [.failRequests(contexts, code)]
    }

    private static func frame(xid: Int32, type: ZooKeeperOpCode, body: (any JuteEncodable)?) -> ByteBuffer {
        do {
            return try JuteWriter.frame { (writer) throws(ToozError) in
                try writer.writeRecord(ZooKeeperRequestHeader(xid: xid, type: type))
                if let body { try body.encode(to: &writer) }
            }
        } catch {
            preconditionFailure("a \(type) packet always encodes: \(error)")
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return .max }
        return Int32(clamping: milliseconds.partialValue + attoseconds / 1_000_000_000_000_000)
    }
}

extension ZooKeeperSessionStateMachine: Sendable where RequestContext: Sendable {}
extension ZooKeeperSessionStateMachine.Action: Sendable where RequestContext: Sendable {}
extension ZooKeeperSessionStateMachine.Action: Equatable where RequestContext: Equatable {}
extension ZooKeeperSessionStateMachine.Pending: Sendable where RequestContext: Sendable {}
extension ZooKeeperSessionStateMachine.PendingKind: Sendable where RequestContext: Sendable {}
extension ZooKeeperSessionStateMachine.Unsent: Sendable where RequestContext: Sendable {}
