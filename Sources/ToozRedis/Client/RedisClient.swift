import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz

/// One logical connection to the Redis master that survives failures: it connects on first use,
/// re-connects (finding the master through Sentinel again) after the connection drops, and
/// spaces failed attempts with an exponential backoff.
///
/// Commands share one pipelined ``RedisConnection``. A command whose connection fails is not
/// retried here: the caller gets `connectionFailed` and decides (a lease turns uncertain, an
/// operation reports the failure), because a retried write may already have been applied.
package final class RedisClient: Sendable {
    package let configuration: RedisConfiguration
    private let currentLogger: Mutex<Logger>
    private var logger: Logger { currentLogger.withLock { $0 } }
    private let eventLoopGroup: any EventLoopGroup
    private let state = Mutex(State())
    private let closeHandler = Mutex<(@Sendable () -> Void)?>(nil)

    private struct State {
        enum Link {
            case idle
            case connected(RedisConnection)
            /// Someone is connecting; these callers wait for the outcome.
            case connecting([CheckedContinuation<RedisConnection, any Error>])
            case closed
        }
        var link: Link = .idle
        var failures = 0
        var nextAttempt: ContinuousClock.Instant?
    }

    package init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.currentLogger = Mutex(logger)
    }

    /// Where the client connects, for messages: the server, or the master's name and sentinels.
    package var target: String {
        switch configuration.servers {
        case .direct(let endpoint): "redis at \(endpoint)"
        case .sentinel(let name, let sentinels):
            "redis master \(name.debugDescription) via sentinels \(sentinels.map(\.description).joined(separator: ", "))"
        }
    }

    /// Calls `handler` (on the event loop) whenever the shared connection closes: leases that
    /// depend on it are in doubt until the next command reconnects and proves them.
    package func onConnectionClosed(_ handler: @escaping @Sendable () -> Void) {
        closeHandler.withLock { $0 = handler }
    }

    private func connectionClosed() {
        closeHandler.withLock { $0 }?()
    }

    /// Logs to `logger` from now on (the coordinator's, handed over when it connects).
    package func use(logger: Logger) {
        currentLogger.withLock { $0 = logger }
    }

    // MARK: Commands

    /// Sends one command and returns its reply; error replies come back as values.
    ///
    /// A `READONLY` reply means the server is no longer the master (a failover happened): the
    /// connection is dropped so that the next command finds the new master, and this one fails
    /// with `connectionFailed`.
    package func send(_ command: RedisCommand) async throws -> RESPValue {
        let connection = try await connection()
        let reply = try await connection.send(command)
        try checkRole(reply, of: connection, command: command)
        return reply
    }

    /// Sends `commands` in one write and returns their replies in order.
    package func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let connection = try await connection()
        let replies = try await connection.send(commands)
        for (reply, command) in zip(replies, commands) { try checkRole(reply, of: connection, command: command) }
        return replies
    }

    /// Sends one command and turns an error reply into a `backendError`.
    package func request(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await send(command)
        if let message = reply.errorMessage {
            throw ToozError(.backendError, "\(target) answered \(command.name) with an error: \(message)")
        }
        return reply
    }

    /// Runs `script` by its SHA-1, loading it with `EVAL` when the server does not know it.
    /// An error reply becomes a `backendError`.
    package func evaluate(_ script: RedisScript, keys: [String], arguments: [any RESPBulkConvertible]) async throws -> RESPValue {
        try await evaluate(script, keys: keys, arguments: arguments, after: []).script
    }

    /// Sends `prelude` and then `script` in one write, so that both cost one round trip, and
    /// returns the prelude's replies and the script's. The script gets the same `NOSCRIPT`
    /// fallback and error handling as ``evaluate(_:keys:arguments:)``.
    package func evaluate(
        _ script: RedisScript,
        keys: [String],
        arguments: [any RESPBulkConvertible],
        after prelude: [RedisCommand]
    ) async throws -> (prelude: [RESPValue], script: RESPValue) {
        var tail: [any RESPBulkConvertible] = []
        tail.reserveCapacity(1 + keys.count + arguments.count)
        tail.append(keys.count)
        for key in keys { tail.append(key) }
        tail.append(contentsOf: arguments)
        let evalsha = RedisCommand("EVALSHA", arguments: [script.sha1] + tail)
        var preludeReplies: [RESPValue] = []
        var reply: RESPValue
        if prelude.isEmpty {
            reply = try await send(evalsha)
        } else {
            let replies = try await send(prelude + [evalsha])
            preludeReplies = Array(replies.dropLast())
            reply = replies[replies.count - 1]
        }
        if let message = reply.errorMessage, message.hasPrefix("NOSCRIPT") {
            logger.debug("redis script not cached, sending its source", metadata: ["script": "\(script.name)"])
            reply = try await send(RedisCommand("EVAL", arguments: [script.source] + tail))
        }
        if let message = reply.errorMessage {
            throw ToozError(.backendError, "\(target) failed script \(script.name): \(message)")
        }
        return (preludeReplies, reply)
    }

    private func checkRole(_ reply: RESPValue, of connection: RedisConnection, command: RedisCommand) throws {
        guard let message = reply.errorMessage, message.hasPrefix("READONLY") else { return }
        drop(connection)
        throw ToozError(
            .connectionFailed,
            "\(connection.endpoint) is a read-only replica now (\(command.name) refused); the master moved, reconnecting"
        )
    }

    // MARK: Connection management

    /// Opens the first connection now, so that a bad URL or an unreachable server shows at once.
    package func connect() async throws {
        _ = try await connection()
    }

    /// Closes the connection; later commands fail with `notRunning`.
    package func close() async {
        let (connection, waiters) = state.withLock { state -> (RedisConnection?, [CheckedContinuation<RedisConnection, any Error>]) in
            defer { state.link = .closed }
            switch state.link {
            case .connected(let connection): return (connection, [])
            case .connecting(let waiters): return (nil, waiters)
            case .idle, .closed: return (nil, [])
            }
        }
        for waiter in waiters { waiter.resume(throwing: closedError) }
        await connection?.close()
    }

    private var closedError: ToozError { ToozError(.notRunning, "the connection to \(target) was closed") }

    /// Forgets `connection` if it is still the current one, so that the next caller reconnects.
    package func drop(_ connection: RedisConnection) {
        let dropped = state.withLock { state -> Bool in
            guard case .connected(let current) = state.link, current === connection else { return false }
            state.link = .idle
            return true
        }
        if dropped {
            logger.debug("redis connection dropped", metadata: ["endpoint": "\(connection.endpoint)"])
        }
    }

    /// The live connection, making one when there is none. Concurrent callers share one attempt.
    package func connection() async throws -> RedisConnection {
        enum Next {
            case use(RedisConnection)
            case connect(after: ContinuousClock.Instant?)
            case wait
            case closed
        }
        let next = state.withLock { state -> Next in
            switch state.link {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connected, .idle:
                state.link = .connecting([])
                return .connect(after: state.nextAttempt)
            case .connecting:
                return .wait
            case .closed:
                return .closed
            }
        }
        switch next {
        case .use(let connection):
            return connection
        case .closed:
            throw closedError
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<RedisConnection, any Error>? = state.withLock { state in
                    switch state.link {
                    case .connecting(var waiters):
                        waiters.append(continuation)
                        state.link = .connecting(waiters)
                        return nil
                    case .connected(let connection):
                        return .success(connection)
                    case .idle:
                        return .failure(ToozError(.connectionFailed, "could not connect to \(target)"))
                    case .closed:
                        return .failure(closedError)
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        case .connect(let after):
            let outcome: Result<RedisConnection, any Error>
            do {
                if let after, after > .now { try await Task.sleep(until: after, clock: .continuous) }
                outcome = .success(try await establish(onClose: { [weak self] in self?.connectionClosed() }))
            } catch {
                outcome = .failure(error)
            }
            let (result, orphan) = finish(outcome)
            // close() ran while we were connecting: do not leak the new connection.
            await orphan?.close()
            return try result.get()
        }
    }

    /// Publishes the outcome of a connection attempt to the waiters and the state. Returns a
    /// connection to close when the client was closed meanwhile.
    private func finish(
        _ outcome: Result<RedisConnection, any Error>
    ) -> (Result<RedisConnection, any Error>, orphan: RedisConnection?) {
        let (waiters, closedMeanwhile) = state.withLock { state -> ([CheckedContinuation<RedisConnection, any Error>], Bool) in
            guard case .connecting(let waiters) = state.link else { return ([], true) }
            switch outcome {
            case .success(let connection):
                state.link = .connected(connection)
                state.failures = 0
                state.nextAttempt = nil
            case .failure:
                state.link = .idle
                state.failures += 1
                let delay = min(
                    configuration.reconnectInitialDelay * (1 << min(state.failures - 1, 20)),
                    configuration.reconnectMaximumDelay
                )
                state.nextAttempt = .now + delay
            }
            return (waiters, false)
        }
        if closedMeanwhile {
            if case .failure = outcome { return (outcome, nil) }
            return (.failure(closedError), try? outcome.get())
        }
        if case .failure(let error) = outcome {
            logger.debug("redis connection attempt failed", metadata: ["error": "\(error)"])
        }
        // The connecting task's own cancellation is not the waiters': they get a plain failure.
        let forWaiters: Result<RedisConnection, any Error> =
            if case .failure(let error) = outcome, error is CancellationError {
                .failure(ToozError(.connectionFailed, "the attempt to connect to \(target) was abandoned; try again"))
            } else {
                outcome
            }
        for waiter in waiters { waiter.resume(with: forWaiters) }
        return (outcome, nil)
    }

    /// A connection of its own to the current master, outside the shared one: for pub/sub and
    /// client tracking, whose pushes (and, in RESP2, subscribe mode) are that connection's own.
    package func openDedicatedConnection(
        onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: @escaping @Sendable () -> Void
    ) async throws -> RedisConnection {
        try await establish(onMessage: onMessage, onInvalidation: onInvalidation, onClose: onClose)
    }

    /// Connects to the server, or asks the sentinels where the master is and connects to it.
    private func establish(
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws -> RedisConnection {
        switch configuration.servers {
        case .direct(let endpoint):
            return try await RedisConnection.connect(
                to: endpoint, configuration: configuration.connection, eventLoopGroup: eventLoopGroup, logger: logger,
                onMessage: onMessage, onInvalidation: onInvalidation, onClose: onClose
            )
        case .sentinel(let name, let sentinels):
            return try await RedisSentinelDiscovery(
                masterName: name,
                sentinels: sentinels,
                sentinelConfiguration: configuration.sentinelConnection,
                masterConfiguration: configuration.connection,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            ).connectToMaster(onMessage: onMessage, onInvalidation: onInvalidation, onClose: onClose)
        }
    }
}
