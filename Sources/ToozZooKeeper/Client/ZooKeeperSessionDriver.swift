import Logging
import NIOCore
import NIOPosix
import Tooz

/// Runs one ``ZooKeeperSessionStateMachine`` on one event loop and carries out its actions:
/// it connects to the servers in turn, writes frames, runs the timers as scheduled tasks,
/// completes requests, calls watchers and publishes session states.
///
/// Every method must be called on ``eventLoop``; the channels it opens live on that loop too,
/// so their events reach it without a hop. There is no protocol logic here: each event goes to
/// the machine and the returned actions are executed in order. Actions produced while others
/// are executing (a channel that closes as it is told to, a connect that fails at once) are
/// queued behind them, so the order the machine chose is kept.
final class ZooKeeperSessionDriver {
    typealias Machine = ZooKeeperSessionStateMachine<ZooKeeperRequestToken>

    /// A watcher waiting for the reply of its read before it is registered.
    struct WatchRequest {
        var watcher: ZooKeeperWatcher
        /// Where it goes when the read succeeds.
        var kind: ZooKeeperWatchRegistry.Kind
        /// An exists that finds no node leaves an exist watch.
        var isExists: Bool
    }

    private struct Call {
        var promise: EventLoopPromise<ZooKeeperResponse>
        var operation: String
        var path: String?
        var watch: WatchRequest?
        var serverPath: String?
        var timeout: Scheduled<Void>?
    }

    let eventLoop: any EventLoop
    let configuration: ZooKeeperClientConfiguration
    private var machine: Machine
    private let servers: [ZooKeeperURL.Server]
    private var nextServer = 0
    private let status: ZooKeeperClientStatus
    private var logger: Logger

    private var channels: [ZooKeeperConnectionID: any Channel] = [:]
    private var connectionServers: [ZooKeeperConnectionID: ZooKeeperURL.Server] = [:]
    private var pendingConnects: [ZooKeeperConnectionID: EventLoopFuture<any Channel>] = [:]
    private var delayedOpens: [ZooKeeperConnectionID: Scheduled<Void>] = [:]
    /// The connection the session uses (or is handshaking on): frames go there.
    private var currentConnection: ZooKeeperConnectionID?
    /// The latest connection the machine asked for; an older one that connects late is
    /// refused by the machine and never becomes current.
    private var requestedConnection: ZooKeeperConnectionID?
    private var needsFlush: Set<ZooKeeperConnectionID> = []
    private var timers: [Machine.Timer: Scheduled<Void>] = [:]

    /// Why the latest connection attempt or connection failed, for the error of a caller who
    /// waited for a session in vain; cleared when a session is granted.
    private var lastFailure: String?
    /// Connections we closed with a reason (recorded in ``lastFailure``), so that their end
    /// does not overwrite it with "the server closed the connection".
    private var closedWithReason: Set<ZooKeeperConnectionID> = []

    private var calls: [ZooKeeperRequestToken: Call] = [:]
    private var watchers = ZooKeeperWatchRegistry()

    private var state: ZooKeeperSessionState = .connecting
    private var stateObservers: [Int: StateObserver] = [:]

    /// Someone told of every session state: a stream's continuation or a callback.
    struct StateObserver {
        var yield: @Sendable (ZooKeeperSessionState) -> Void
        var finish: @Sendable () -> Void
    }
    private var sessionWaiters: [EventLoopPromise<Void>] = []
    private var closeWaiters: [EventLoopPromise<Void>] = []
    private var forcedClose: Scheduled<Void>?
    private var isClosing = false
    private var isQuiesced = false

    private var queuedActions = CircularBuffer<Machine.Action>()
    private var isDraining = false
    /// Replies and watch events of the actions being executed, handed out once all of them ran,
    /// so that a caller who wakes up sees the session state those actions published.
    private var repliesToDeliver: [(EventLoopPromise<ZooKeeperResponse>, Result<ZooKeeperResponse, any Error>)] = []
    private var eventsToDeliver: [(ZooKeeperWatcher, ZooKeeperWatcherEvent)] = []

    init(
        configuration: ZooKeeperClientConfiguration,
        eventLoop: any EventLoop,
        status: ZooKeeperClientStatus,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.status = status
        self.logger = logger
        var servers = configuration.servers
        if configuration.randomizeHosts { servers.shuffle() }
        self.servers = servers
        self.machine = Machine(
            configuration: Machine.Configuration(
                sessionTimeout: configuration.sessionTimeout,
                connectTimeout: configuration.connectTimeout,
                authPackets: configuration.authPackets,
                serverCount: servers.count
            )
        )
    }

    // MARK: - Commands from the client

    /// Starts the first connection attempts.
    func start() {
        self.eventLoop.preconditionInEventLoop()
        self.run(self.machine.start(now: self.now()))
    }

    /// Sends `request`; `promise` gets the reply or the error (already a `ToozError`).
    func submit(
        _ request: ZooKeeperRequest,
        token: ZooKeeperRequestToken,
        operation: String,
        path: String?,
        watch: WatchRequest?,
        promise: EventLoopPromise<ZooKeeperResponse>
    ) {
        self.eventLoop.preconditionInEventLoop()
        let timeout = self.configuration.operationTimeout
        let scheduled = self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            self.timeOut(token, after: timeout)
        }
        self.calls[token] = Call(
            promise: promise,
            operation: operation,
            path: path,
            watch: watch,
            serverPath: request.watchPath,
            timeout: scheduled
        )
        self.run(self.machine.sendRequest(request, context: token, now: self.now()))
    }

    /// The caller stopped waiting (its task was cancelled). A reply that still comes is dropped
    /// and leaves no watcher.
    func abandon(_ token: ZooKeeperRequestToken) {
        guard let call = self.calls.removeValue(forKey: token) else { return }
        call.timeout?.cancel()
        call.promise.fail(CancellationError())
    }

    /// Adds credentials to the session (sent now, and after every reconnect).
    func addAuthentication(_ packet: ZooKeeperAuthPacket) {
        self.run(self.machine.addAuthentication(packet))
    }

    /// Succeeds once a session is connected; fails if the client ends first.
    func waitForSession(_ promise: EventLoopPromise<Void>) {
        switch self.state {
        case .connected, .reconnected:
            promise.succeed(())
        case .authenticationFailed:
            promise.fail(ToozError(.connectionFailed, "ZooKeeper refused the client's credentials"))
        case .closed:
            promise.fail(ToozError(.connectionFailed, "the ZooKeeper client is closed"))
        case .expired where !self.configuration.reconnectAfterExpiry:
            promise.fail(ToozError(.leaseLost, "the ZooKeeper session expired"))
        case .connecting, .suspended, .expired:
            self.sessionWaiters.append(promise)
        }
    }

    /// What keeps the session from being granted, for the error of a caller who gave up
    /// waiting: the latest failure, or how far the current attempt has got.
    var connectProblem: String {
        if let lastFailure = self.lastFailure { return lastFailure }
        if let connection = self.currentConnection, self.channels[connection] != nil {
            let server = self.connectionServers[connection].map(\.description) ?? "the server"
            return "timed out waiting for the ZooKeeper handshake: \(server) accepted the connection but has not replied"
        }
        if !self.pendingConnects.isEmpty { return "timed out waiting for the TCP connection to be established" }
        return "no connection attempt has completed"
    }

    /// Requests sent and not answered, plus those waiting for a connection.
    var outstandingRequestCount: Int { self.machine.outstandingRequestCount }

    /// Reports every state from the current one on, until the client ends.
    func addStateObserver(_ id: Int, _ observer: StateObserver) {
        observer.yield(self.state)
        if self.state.isTerminal {
            observer.finish()
        } else {
            self.stateObservers[id] = observer
        }
    }

    func removeStateObserver(_ id: Int) {
        self.stateObservers[id] = nil
    }

    /// Ends the session (a `closeSession` when connected, so the server drops the ephemeral
    /// nodes at once) and completes `promise` once every channel is closed. A server that does
    /// not answer the close within `timeout` has its connection cut.
    func close(timeout: Duration, promise: EventLoopPromise<Void>?) {
        if let promise {
            if self.isQuiesced {
                promise.succeed(())
            } else {
                self.closeWaiters.append(promise)
            }
        }
        guard !self.isClosing else { return }
        self.isClosing = true
        self.forcedClose = self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            self.logger.debug("ZooKeeper did not answer closeSession in time; cutting the connection")
            for channel in self.channels.values { channel.close(promise: nil) }
        }
        self.run(self.machine.close(now: self.now()))
    }

    // MARK: - Events from channels and timers

    private func connectionEstablished(_ connection: ZooKeeperConnectionID, channel: any Channel) {
        self.pendingConnects[connection] = nil
        self.channels[connection] = channel
        if connection == self.requestedConnection { self.currentConnection = connection }
        self.run(self.machine.transportEstablished(connection, now: self.now()))
    }

    private func connectFailed(_ connection: ZooKeeperConnectionID, error: any Error) {
        self.pendingConnects[connection] = nil
        let server = self.connectionServers.removeValue(forKey: connection)
        self.logger.debug(
            "cannot connect to the ZooKeeper server",
            metadata: [
                "tooz_connection_id": "\(connection.rawValue)",
                "zookeeper.server": "\(server.map(\.description) ?? "?")",
                "zookeeper.error": "\(error)",
            ]
        )
        self.lastFailure = "cannot connect to \(server.map(\.description) ?? "the server"): \(error)"
        self.run(self.machine.transportFailed(connection, now: self.now()))
    }

    private func frameReceived(_ frame: ByteBuffer, on connection: ZooKeeperConnectionID) {
        self.run(self.machine.frameReceived(frame, on: connection, now: self.now()))
    }

    private func connectionInactive(_ connection: ZooKeeperConnectionID, error: (any Error)?) {
        guard self.channels.removeValue(forKey: connection) != nil else { return }
        let server = self.connectionServers.removeValue(forKey: connection).map(\.description) ?? "the server"
        if self.closedWithReason.remove(connection) == nil {
            if let error = error as? ToozError {
                // The frame decoder's: the byte stream is not ZooKeeper's framing.
                self.lastFailure = "the reply of \(server) is not ZooKeeper's (\(error.message))"
            } else if let error {
                // A socket error, such as a reset.
                self.lastFailure = "\(server) closed the connection (\(error))"
            } else if !self.isClosing {
                self.lastFailure = "\(server) closed the connection"
            }
        }
        self.needsFlush.remove(connection)
        if self.currentConnection == connection {
            self.currentConnection = nil
            self.status.update { $0.server = nil }
        }
        self.run(self.machine.connectionLost(connection, now: self.now()))
    }

    private func timerFired(_ timer: Machine.Timer) {
        self.timers[timer] = nil
        self.run(self.machine.timerFired(timer, now: self.now()))
    }

    private func timeOut(_ token: ZooKeeperRequestToken, after timeout: Duration) {
        guard let call = self.calls.removeValue(forKey: token) else { return }
        let subject = call.path.map { "\(call.operation) \($0)" } ?? call.operation
        call.promise.fail(
            ToozError(
                .timedOut,
                "no reply from ZooKeeper to \(subject) within \(timeout)",
                underlying: ZooKeeperError(code: .operationTimeout, operation: call.operation, path: call.path)
            )
        )
    }

    // MARK: - Executing actions

    private func run(_ actions: [Machine.Action]) {
        self.queuedActions.append(contentsOf: actions)
        guard !self.isDraining else { return }
        self.isDraining = true
        while let action = self.queuedActions.popFirst() {
            self.execute(action)
        }
        self.isDraining = false
        self.flush()
        self.deliverResults()
        self.quiesceIfDone()
    }

    private func deliverResults() {
        while !self.repliesToDeliver.isEmpty || !self.eventsToDeliver.isEmpty {
            let events = self.eventsToDeliver
            self.eventsToDeliver.removeAll()
            for (watcher, event) in events { watcher(event) }
            let replies = self.repliesToDeliver
            self.repliesToDeliver.removeAll()
            for (promise, result) in replies { promise.completeWith(result) }
        }
    }

    private func execute(_ action: Machine.Action) {
        switch action {
        case .openConnection(let connection, let delay):
            self.requestedConnection = connection
            if delay <= .zero {
                self.connect(connection)
            } else {
                self.delayedOpens[connection] = self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                    self.delayedOpens[connection] = nil
                    self.connect(connection)
                }
            }

        case .closeConnection(let connection, let reason):
            if let reason {
                let server = self.connectionServers[connection].map(\.description) ?? "the server"
                self.lastFailure = "\(server): \(reason.message)"
                if self.channels[connection] != nil { self.closedWithReason.insert(connection) }
                self.logger.debug(
                    "closing the ZooKeeper connection",
                    metadata: ["tooz_connection_id": "\(connection.rawValue)", "zookeeper.reason": "\(reason)"]
                )
            }
            self.delayedOpens.removeValue(forKey: connection)?.cancel()
            self.channels[connection]?.close(promise: nil)

        case .send(let frame):
            guard let connection = self.currentConnection, let channel = self.channels[connection] else {
                // The connection went away while these actions were queued; the machine
                // hears of it from the channel and fails or resends what it must.
                return
            }
            channel.write(frame, promise: nil)
            self.needsFlush.insert(connection)

        case .scheduleTimer(let timer, let deadline):
            self.timers[timer]?.cancel()
            self.timers[timer] = self.eventLoop.assumeIsolated().scheduleTask(deadline: Self.deadline(deadline)) { [self] in
                self.timerFired(timer)
            }

        case .cancelTimer(let timer):
            self.timers.removeValue(forKey: timer)?.cancel()

        case .completeRequest(let token, let result):
            self.complete(token, result)

        case .failRequests(let tokens, let code):
            for token in tokens { self.complete(token, .failure(code)) }

        case .deliverWatchEvent(let event):
            self.deliver(event)

        case .sessionEstablished(let session):
            self.logger.debug("ZooKeeper session established", metadata: self.metadata(session))
            self.lastFailure = nil
            self.publish(.connected(session))
            self.resumeSessionWaiters(nil)

        case .sessionResumed(let session):
            self.logger.debug("ZooKeeper session resumed", metadata: self.metadata(session))
            self.lastFailure = nil
            self.publish(.reconnected(session))
            self.resumeSessionWaiters(nil)

        case .sessionSuspended:
            guard let session = self.machine.session else { return }
            self.logger.info("ZooKeeper connection lost; reconnecting", metadata: self.metadata(session))
            self.publish(.suspended(session))

        case .sessionExpired:
            let session = self.state.session
            self.logger.info("ZooKeeper session expired", metadata: session.map(self.metadata) ?? [:])
            self.endWatches(state: .expired)
            self.publish(.expired(session))
            if self.configuration.reconnectAfterExpiry && !self.isClosing {
                self.publish(.connecting)
                self.queuedActions.append(contentsOf: self.machine.start(now: self.now()))
            } else {
                self.resumeSessionWaiters(ToozError(.leaseLost, "the ZooKeeper session expired"))
            }

        case .authenticationFailed:
            self.logger.debug("ZooKeeper refused the credentials")
            self.endWatches(state: .authFailed)
            self.publish(.authenticationFailed)
            self.resumeSessionWaiters(ToozError(.connectionFailed, "ZooKeeper refused the client's credentials"))
            self.finishObservers()
            // The client stays unusable until close(); nothing is connected any more.
            self.cancelTimersAndOpens()

        case .sessionClosed:
            self.endWatches(state: .closed)
            self.publish(.closed)
            self.resumeSessionWaiters(ToozError(.connectionFailed, "the ZooKeeper client is closed"))
            self.finishObservers()
            self.cancelTimersAndOpens()
            for channel in self.channels.values { channel.close(promise: nil) }
        }
    }

    private func flush() {
        guard !self.needsFlush.isEmpty else { return }
        let connections = self.needsFlush
        self.needsFlush.removeAll()
        for connection in connections {
            self.channels[connection]?.flush()
        }
    }

    // MARK: - Connections

    private func connect(_ connection: ZooKeeperConnectionID) {
        guard !self.servers.isEmpty else {
            self.run(self.machine.transportFailed(connection, now: self.now()))
            return
        }
        let server = self.servers[self.nextServer % self.servers.count]
        self.nextServer = (self.nextServer + 1) % self.servers.count
        self.connectionServers[connection] = server
        self.logger.trace(
            "connecting to the ZooKeeper server",
            metadata: ["tooz_connection_id": "\(connection.rawValue)", "zookeeper.server": "\(server)"]
        )

        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let maximumFrameLength = self.configuration.maximumFrameLength
        var handlerLogger = self.logger
        handlerLogger[metadataKey: "zookeeper.server"] = "\(server)"
        let logger = handlerLogger
        let future = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(TimeAmount(self.machine.configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ZooKeeperChannelHandler(
                        connection: connection,
                        maximumFrameLength: maximumFrameLength,
                        logger: logger,
                        onFrame: { connection, frame in bound.value.frameReceived(frame, on: connection) },
                        onInactive: { connection, error in bound.value.connectionInactive(connection, error: error) }
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: server.host, port: server.port)
        self.pendingConnects[connection] = future
        future.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                if channel.isActive {
                    self.connectionEstablished(connection, channel: channel)
                } else {
                    self.pendingConnects[connection] = nil
                    self.run(self.machine.transportFailed(connection, now: self.now()))
                }
            case .failure(let error):
                self.connectFailed(connection, error: error)
            }
            self.quiesceIfDone()
        }
    }

    private func cancelTimersAndOpens() {
        for timer in self.timers.values { timer.cancel() }
        self.timers.removeAll()
        for open in self.delayedOpens.values { open.cancel() }
        self.delayedOpens.removeAll()
    }

    /// Once the session is closed and no channel or connect is left, `close()` returns.
    private func quiesceIfDone() {
        guard case .closed = self.state, !self.isQuiesced, !self.isDraining else { return }
        // Closing may report the channel gone at once, and quiesce from there.
        for channel in Array(self.channels.values) { channel.close(promise: nil) }
        guard !self.isQuiesced, self.channels.isEmpty, self.pendingConnects.isEmpty else { return }
        self.isQuiesced = true
        self.forcedClose?.cancel()
        self.forcedClose = nil
        for call in self.calls.values {
            call.timeout?.cancel()
            call.promise.fail(ToozError(.connectionFailed, "the ZooKeeper client is closed"))
        }
        self.calls.removeAll()
        let waiters = self.closeWaiters
        self.closeWaiters.removeAll()
        for waiter in waiters { waiter.succeed(()) }
    }

    // MARK: - Requests and watches

    private func complete(_ token: ZooKeeperRequestToken, _ result: Result<ZooKeeperResponse, ZooKeeperErrorCode>) {
        guard let call = self.calls.removeValue(forKey: token) else { return }
        call.timeout?.cancel()
        switch result {
        case .success(let response):
            if let watch = call.watch, let serverPath = call.serverPath {
                self.watchers.add(watch.watcher, kind: watch.kind, serverPath: serverPath)
            }
            self.repliesToDeliver.append((call.promise, .success(response)))
        case .failure(let code):
            if let watch = call.watch, let serverPath = call.serverPath, watch.isExists, code == .noNode {
                self.watchers.add(watch.watcher, kind: .exist, serverPath: serverPath)
            }
            if self.isClosing && code == .sessionExpired {
                let subject = call.path.map { "\(call.operation) \($0)" } ?? call.operation
                let error = ToozError(
                    .connectionFailed,
                    "the ZooKeeper client is closed; \(subject) was not completed",
                    underlying: ZooKeeperError(code: code, operation: call.operation, path: call.path)
                )
                self.repliesToDeliver.append((call.promise, .failure(error)))
            } else {
                let error = ZooKeeperError(code: code, operation: call.operation, path: call.path).toozError
                self.repliesToDeliver.append((call.promise, .failure(error)))
            }
        }
    }

    private func deliver(_ event: ZooKeeperWatcherEvent) {
        let fired = self.watchers.take(triggeredBy: event)
        guard !fired.isEmpty, let path = self.configuration.clientPath(fromServer: event.path) else { return }
        let clientEvent = ZooKeeperWatcherEvent(type: event.type, state: event.state, path: path)
        for watcher in fired { self.eventsToDeliver.append((watcher, clientEvent)) }
    }

    /// The session ended: every watcher learns that its watch will never fire.
    private func endWatches(state: ZooKeeperWatcherEvent.KeeperState) {
        for (serverPath, watcher) in self.watchers.takeAll() {
            let path = self.configuration.clientPath(fromServer: serverPath) ?? serverPath
            self.eventsToDeliver.append((watcher, ZooKeeperWatcherEvent(type: .none, state: state, path: path)))
        }
    }

    // MARK: - States

    private func publish(_ state: ZooKeeperSessionState) {
        self.state = state
        let server = state.isConnected ? self.currentConnection.flatMap { self.connectionServers[$0] } : nil
        self.status.update {
            $0.state = state
            $0.server = server
        }
        for observer in self.stateObservers.values { observer.yield(state) }
    }

    private func finishObservers() {
        let observers = self.stateObservers
        self.stateObservers.removeAll()
        for observer in observers.values { observer.finish() }
    }

    private func resumeSessionWaiters(_ error: ToozError?) {
        let waiters = self.sessionWaiters
        self.sessionWaiters.removeAll()
        for waiter in waiters {
            if let error { waiter.fail(error) } else { waiter.succeed(()) }
        }
    }

    // MARK: - Helpers

    /// The machine's clock: NIO's monotonic uptime, the clock scheduled tasks run on.
    private func now() -> Duration {
        .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds))
    }

    private static func deadline(_ instant: Duration) -> NIODeadline {
        let (seconds, attoseconds) = instant.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        return .uptimeNanoseconds(UInt64(clamping: nanoseconds))
    }

    private func metadata(_ session: ZooKeeperSession) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["zookeeper.session": "\(session)"]
        if let server = self.currentConnection.flatMap({ self.connectionServers[$0] }) {
            metadata["zookeeper.server"] = "\(server)"
        }
        return metadata
    }
}

@available(*, unavailable)
extension ZooKeeperSessionDriver: Sendable {}

/// Identifies one call of a ``ZooKeeperClient`` inside the session state machine.
struct ZooKeeperRequestToken: Hashable, Sendable {
    var rawValue: Int
}
