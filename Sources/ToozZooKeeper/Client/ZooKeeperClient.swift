import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz

/// A native ZooKeeper client: one session over SwiftNIO, kept alive across connection losses,
/// with kazoo's calls as async methods.
///
/// ```swift
/// let client = try await ZooKeeperClient.connect(configuration: ZooKeeperClientConfiguration(url: url), logger: logger)
/// let path = try await client.create("/tooz/group/member", data: capabilities, mode: .ephemeral)
/// let watch = ZooKeeperWatch()
/// let (members, _) = try await client.getChildren("/tooz/group", watcher: watch.watcher)
/// await client.close()
/// ```
///
/// - Paths are absolute and relative to the chroot, if the configuration has one; the paths
///   the client returns (created nodes, watch events) are too.
/// - The session pings the server, reconnects to the next server of the ensemble after a
///   connection loss, resumes the session there and re-registers its watches. Calls made while
///   the connection is down wait for it (up to the operation timeout). Follow
///   ``sessionStates()`` to learn when ephemeral nodes are uncertain (`suspended`) or gone
///   (`expired`).
/// - Errors are `ToozError`s; see ``ZooKeeperError`` for how ZooKeeper codes map, and
///   `ToozError.zooKeeperCode` for the code itself. Methods also throw `CancellationError` when
///   the calling task is cancelled while waiting for the reply; the request may still be
///   applied.
/// - Call ``close()`` when done: it ends the session, so the server deletes its ephemeral
///   nodes at once.
package final class ZooKeeperClient: Sendable {
    /// The settings the client runs with.
    package let configuration: ZooKeeperClientConfiguration
    /// The event loop of the session, its channels and its timers.
    package let eventLoop: any EventLoop

    private let driver: NIOLoopBoundBox<ZooKeeperSessionDriver>
    private let status: ZooKeeperClientStatus
    private let nextToken = Atomic<Int>(0)
    private let logger: Logger

    private init(configuration: ZooKeeperClientConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        let status = ZooKeeperClientStatus()
        self.status = status
        // Made here and handed over to the loop: from now on only the loop touches it.
        self.driver = NIOLoopBoundBox.makeBoxSendingValue(
            ZooKeeperSessionDriver(configuration: configuration, eventLoop: eventLoop, status: status, logger: logger),
            eventLoop: eventLoop
        )
    }

    deinit {
        // A client dropped without close() must not keep its session and sockets open.
        let driver = self.driver
        let timeout = self.configuration.operationTimeout
        self.eventLoop.execute { driver.value.close(timeout: timeout, promise: nil) }
    }

    // MARK: - Lifecycle

    /// Starts a session and waits until it is connected.
    ///
    /// - Throws: `connectionFailed` when no server of the ensemble granted a session within
    ///   ``ZooKeeperClientConfiguration/operationTimeout`` or the credentials were refused, and
    ///   also when the calling task is cancelled first; its message says what went wrong (the
    ///   handshake timed out, the server closed the connection, its reply is not ZooKeeper's,
    ///   …). The client is closed before this throws.
    package static func connect(
        configuration: ZooKeeperClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "tooz.zookeeper", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> ZooKeeperClient {
        guard !configuration.servers.isEmpty else {
            throw ToozError(.invalidConfiguration, "a ZooKeeper client needs at least one server")
        }
        let client = ZooKeeperClient(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        let driver = client.driver
        client.eventLoop.execute { driver.value.start() }
        do {
            try await client.waitForSession(timeout: configuration.operationTimeout)
        } catch is CancellationError {
            // The caller gave up (typically its own start-up timeout, racing ours): say what
            // the attempt had come to rather than leak a bare CancellationError.
            let problem = await client.connectProblem()
            await client.close()
            throw ToozError(
                .connectionFailed,
                "gave up connecting to ZooKeeper (\(client.serverList)) before a session was granted: \(problem)"
            )
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Waits until the session is connected (at once when it is).
    ///
    /// - Throws: `connectionFailed` when no session was granted within `timeout`, when the
    ///   credentials were refused or the client is closed; `leaseLost` when the session expired
    ///   and ``ZooKeeperClientConfiguration/reconnectAfterExpiry`` is off; `CancellationError`
    ///   when the calling task is cancelled.
    package func waitForSession(timeout: Duration) async throws {
        let promise = self.eventLoop.makePromise(of: Void.self)
        let driver = self.driver
        self.eventLoop.execute { driver.value.waitForSession(promise) }
        let servers = self.serverList
        let timer = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(
                ToozError(
                    .connectionFailed,
                    "no ZooKeeper server of \(servers) granted a session within \(timeout): \(driver.value.connectProblem)"
                )
            )
        }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    /// The servers of the ensemble, for messages.
    package var serverList: String { self.configuration.servers.map(\.description).joined(separator: ",") }

    /// Why no session has been granted (yet): the latest connection failure, or how far the
    /// current attempt has got.
    private func connectProblem() async -> String {
        let driver = self.driver
        return (try? await self.eventLoop.submit { driver.value.connectProblem }.get()) ?? "unknown"
    }

    /// Ends the session and closes the connection; returns once nothing of the client is left
    /// open. Calls still waiting fail with `connectionFailed`. Calling it again does nothing.
    package func close() async {
        let promise = self.eventLoop.makePromise(of: Void.self)
        let driver = self.driver
        let timeout = min(self.configuration.operationTimeout, self.configuration.sessionTimeout)
        self.eventLoop.execute { driver.value.close(timeout: timeout, promise: promise) }
        try? await promise.futureResult.get()
    }

    // MARK: - Session

    /// The session state now.
    package var state: ZooKeeperSessionState { self.status.state }

    /// The current session, if one exists (also while suspended).
    package var session: ZooKeeperSession? { self.status.state.session }

    /// The server the session is connected to, `nil` while not connected.
    package var connectedServer: ZooKeeperURL.Server? { self.status.server }

    /// The session states from now on: first the current one, then every change, until the
    /// client is closed or its credentials are refused. Each call makes a new stream.
    package func sessionStates() -> AsyncStream<ZooKeeperSessionState> {
        let (stream, continuation) = AsyncStream.makeStream(of: ZooKeeperSessionState.self)
        let id = self.nextToken.wrappingAdd(1, ordering: .relaxed).newValue
        let driver = self.driver
        let eventLoop = self.eventLoop
        continuation.onTermination = { _ in
            eventLoop.execute { driver.value.removeStateObserver(id) }
        }
        let observer = ZooKeeperSessionDriver.StateObserver(
            yield: { continuation.yield($0) }, finish: { continuation.finish() }
        )
        eventLoop.execute { driver.value.addStateObserver(id, observer) }
        return stream
    }

    /// Calls `handler` on the client's event loop with the current session state and every
    /// change, until the client ends. For callers that only record or forward states.
    package func onSessionState(_ handler: @escaping @Sendable (ZooKeeperSessionState) -> Void) {
        let id = self.nextToken.wrappingAdd(1, ordering: .relaxed).newValue
        let driver = self.driver
        let observer = ZooKeeperSessionDriver.StateObserver(yield: handler, finish: {})
        self.eventLoop.execute { driver.value.addStateObserver(id, observer) }
    }

    /// Requests sent and not answered yet, plus those waiting for a connection.
    package func outstandingRequestCount() async -> Int {
        let driver = self.driver
        return (try? await self.eventLoop.submit { driver.value.outstandingRequestCount }.get()) ?? 0
    }

    /// Adds credentials to the session (kazoo: `add_auth`), kept for every reconnect.
    ///
    /// Returns after a round trip, when the server has taken them.
    /// - Throws: `connectionFailed` when the server refuses them (the session is then unusable).
    package func addAuth(scheme: String, credentials: [UInt8]) async throws {
        let packet = ZooKeeperAuthPacket(scheme: scheme, auth: credentials)
        let driver = self.driver
        self.eventLoop.execute { driver.value.addAuthentication(packet) }
        // The server answers the auth packet before any later request, so one round trip
        // shows whether it was taken.
        _ = try await self.exists("/")
    }

    /// Adds digest credentials (`user:password`), as tooz does with a URL's credentials.
    package func addDigestAuth(user: String, password: String) async throws {
        try await self.addAuth(scheme: "digest", credentials: Array("\(user):\(password)".utf8))
    }

    // MARK: - Operations

    /// Creates a node and returns its path (with the sequence suffix for a sequential mode).
    ///
    /// - Parameter acl: `nil` for ``ZooKeeperClientConfiguration/defaultACL`` (tooz's digest ACL
    ///   when the URL has credentials).
    /// - Throws: `backendError` with `NODEEXISTS`, `NONODE` (no parent), `NOCHILDRENFOREPHEMERALS`,
    ///   `NOAUTH`, …
    package func create(
        _ path: String,
        data: [UInt8] = [],
        acl: [ZooKeeperACL]? = nil,
        mode: ZooKeeperCreateMode = .persistent
    ) async throws -> String {
        let request = self.createRequest(path, data: data, acl: acl, mode: mode)
        guard case .created(let created) = try await self.send(.create(request), operation: "create", path: path) else {
            throw self.unexpectedReply(to: "create", path: path)
        }
        return self.clientPath(created)
    }

    /// Creates a node and returns its path and its stat (`create2`); the stat's `czxid` is the
    /// creation's zxid, a linearizable fencing token.
    package func createWithStat(
        _ path: String,
        data: [UInt8] = [],
        acl: [ZooKeeperACL]? = nil,
        mode: ZooKeeperCreateMode = .persistent
    ) async throws -> (path: String, stat: ZooKeeperStat) {
        let request = self.createRequest(path, data: data, acl: acl, mode: mode)
        guard case .created2(let created) = try await self.send(.create2(request), operation: "create2", path: path) else {
            throw self.unexpectedReply(to: "create2", path: path)
        }
        return (self.clientPath(created.path), created.stat)
    }

    /// Creates `path` and each missing parent as persistent nodes with empty data (kazoo:
    /// `ensure_path`); nodes that exist already are fine.
    package func ensurePath(_ path: String, acl: [ZooKeeperACL]? = nil) async throws {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            do {
                _ = try await self.create(current, acl: acl)
            } catch let error as ToozError where error.zooKeeperCode == .nodeExists {
                continue
            }
        }
    }

    /// Deletes a node; `version` -1 deletes whatever its version.
    ///
    /// - Throws: `backendError` with `NONODE`, `BADVERSION`, `NOTEMPTY`, `NOAUTH`, …
    package func delete(_ path: String, version: Int32 = -1) async throws {
        let request = ZooKeeperDeleteRequest(path: self.configuration.serverPath(path), version: version)
        _ = try await self.send(.delete(request), operation: "delete", path: path)
    }

    /// Sends a delete without waiting for its reply, so that it goes out even from a cancelled
    /// task (and after the next reconnect when the connection is down): for dropping a queued
    /// lock node whose waiter gave up. Its outcome is ignored; a node that is gone is fine.
    package func deleteWithoutWaiting(_ path: String) {
        let request = ZooKeeperDeleteRequest(path: self.configuration.serverPath(path), version: -1)
        let token = ZooKeeperRequestToken(rawValue: self.nextToken.wrappingAdd(1, ordering: .relaxed).newValue)
        let promise = self.eventLoop.makePromise(of: ZooKeeperResponse.self)
        promise.futureResult.whenComplete { _ in }
        let driver = self.driver
        self.eventLoop.execute {
            driver.value.submit(.delete(request), token: token, operation: "delete", path: path, watch: nil, promise: promise)
        }
    }

    /// The node's stat, or `nil` when it does not exist.
    ///
    /// - Parameter watcher: called once when the node is created, changed or deleted (a watch
    ///   is left whether or not the node exists).
    package func exists(_ path: String, watcher: ZooKeeperWatcher? = nil) async throws -> ZooKeeperStat? {
        let request = ZooKeeperExistsRequest(path: self.configuration.serverPath(path), watch: watcher != nil)
        let watch = watcher.map { ZooKeeperSessionDriver.WatchRequest(watcher: $0, kind: .data, isExists: true) }
        do {
            guard case .stat(let stat) = try await self.send(.exists(request), operation: "exists", path: path, watch: watch) else {
                throw self.unexpectedReply(to: "exists", path: path)
            }
            return stat
        } catch let error as ToozError where error.zooKeeperCode == .noNode {
            return nil
        }
    }

    /// The node's data and stat.
    ///
    /// - Parameter watcher: called once when the node's data changes or the node is deleted.
    /// - Throws: `backendError` with `NONODE` (no watch is left then), `NOAUTH`, …
    package func getData(_ path: String, watcher: ZooKeeperWatcher? = nil) async throws -> (data: [UInt8], stat: ZooKeeperStat) {
        let request = ZooKeeperGetDataRequest(path: self.configuration.serverPath(path), watch: watcher != nil)
        let watch = watcher.map { ZooKeeperSessionDriver.WatchRequest(watcher: $0, kind: .data, isExists: false) }
        guard case .data(let reply) = try await self.send(.getData(request), operation: "getData", path: path, watch: watch) else {
            throw self.unexpectedReply(to: "getData", path: path)
        }
        return (reply.data, reply.stat)
    }

    /// Replaces the node's data and returns its new stat; `version` -1 whatever its version.
    ///
    /// - Throws: `backendError` with `NONODE`, `BADVERSION`, `NOAUTH`, …
    @discardableResult
    package func setData(_ path: String, data: [UInt8], version: Int32 = -1) async throws -> ZooKeeperStat {
        let request = ZooKeeperSetDataRequest(path: self.configuration.serverPath(path), data: data, version: version)
        guard case .stat(let stat) = try await self.send(.setData(request), operation: "setData", path: path) else {
            throw self.unexpectedReply(to: "setData", path: path)
        }
        return stat
    }

    /// The node's children (names, in the server's order, which is unspecified) and its stat
    /// (`getChildren2`).
    ///
    /// - Parameter watcher: called once when a child is created or deleted, or the node is
    ///   deleted.
    /// - Throws: `backendError` with `NONODE` (no watch is left then), `NOAUTH`, …
    package func getChildren(_ path: String, watcher: ZooKeeperWatcher? = nil) async throws -> (children: [String], stat: ZooKeeperStat) {
        let request = ZooKeeperGetChildren2Request(path: self.configuration.serverPath(path), watch: watcher != nil)
        let watch = watcher.map { ZooKeeperSessionDriver.WatchRequest(watcher: $0, kind: .child, isExists: false) }
        guard case .children(let reply) = try await self.send(.getChildren2(request), operation: "getChildren", path: path, watch: watch) else {
            throw self.unexpectedReply(to: "getChildren", path: path)
        }
        return (reply.children, reply.stat)
    }

    /// Applies `operations` atomically: all of them, or none (kazoo: `transaction`).
    ///
    /// - Throws: `backendError` whose ``ZooKeeperError`` names the code and the index of the
    ///   operation that failed (nothing was applied then).
    package func multi(_ operations: [ZooKeeperOperation]) async throws -> [ZooKeeperOperationResult] {
        guard !operations.isEmpty else { return [] }
        let request = ZooKeeperMultiRequest(operations: operations.map { $0.wire(self.configuration) })
        guard case .multi(let reply) = try await self.send(.multi(request), operation: "multi", path: nil) else {
            throw self.unexpectedReply(to: "multi", path: nil)
        }
        if let index = reply.results.firstIndex(where: { if case .error(let code) = $0 { code != .ok } else { false } }),
            case .error(let code) = reply.results[index]
        {
            let failed = index < operations.count ? operations[index] : nil
            throw ZooKeeperError(code: code, operation: "multi", path: failed?.path, failedOperationIndex: index).toozError
        }
        guard reply.results.count == operations.count else {
            throw ToozError(
                .backendError,
                "ZooKeeper answered a multi of \(operations.count) operations with \(reply.results.count) results"
            )
        }
        return try reply.results.map { result throws(ToozError) -> ZooKeeperOperationResult in
            switch result {
            case .create(let path): return .created(path: self.clientPath(path))
            case .create2(let path, _): return .created(path: self.clientPath(path))
            case .delete: return .deleted
            case .setData(let stat): return .dataSet(stat)
            case .check: return .checked
            case .error:
                throw ToozError(.backendError, "ZooKeeper answered a successful multi with an error result")
            }
        }
    }

    // MARK: - Sending

    private func send(
        _ request: ZooKeeperRequest,
        operation: String,
        path: String?,
        watch: ZooKeeperSessionDriver.WatchRequest? = nil
    ) async throws -> ZooKeeperResponse {
        try Task.checkCancellation()
        let token = ZooKeeperRequestToken(rawValue: self.nextToken.wrappingAdd(1, ordering: .relaxed).newValue)
        let promise = self.eventLoop.makePromise(of: ZooKeeperResponse.self)
        let driver = self.driver
        let eventLoop = self.eventLoop
        eventLoop.execute {
            driver.value.submit(request, token: token, operation: operation, path: path, watch: watch, promise: promise)
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            eventLoop.execute { driver.value.abandon(token) }
        }
    }

    private func createRequest(_ path: String, data: [UInt8], acl: [ZooKeeperACL]?, mode: ZooKeeperCreateMode) -> ZooKeeperCreateRequest {
        ZooKeeperCreateRequest(
            path: self.configuration.serverPath(path),
            data: data,
            acl: acl ?? self.configuration.defaultACL,
            mode: mode
        )
    }

    /// A path the server returned, relative to the chroot.
    private func clientPath(_ serverPath: String) -> String {
        self.configuration.clientPath(fromServer: serverPath) ?? serverPath
    }

    private func unexpectedReply(to operation: String, path: String?) -> ToozError {
        ToozError(.backendError, "ZooKeeper answered \(operation)\(path.map { " \($0)" } ?? "") with a reply of another kind")
    }
}
