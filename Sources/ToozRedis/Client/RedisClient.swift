import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

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
    private let link: ReconnectingLink<RedisConnection>
    private let closeHandler = Mutex<(@Sendable () -> Void)?>(nil)

    package init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.currentLogger = Mutex(logger)
        let target = Self.target(of: configuration)
        self.link = ReconnectingLink(
            backoff: .init(initial: configuration.reconnectInitialDelay, maximum: configuration.reconnectMaximumDelay),
            isActive: { $0.isActive },
            closedError: { ToozError(.notRunning, "the connection to \(target) was closed") },
            abandonedError: { ToozError(.connectionFailed, "the attempt to connect to \(target) failed or was abandoned; try again") }
        )
    }

    /// Where the client connects, for messages: the server, or the master's name and sentinels.
    package var target: String { Self.target(of: configuration) }

    private static func target(of configuration: RedisConfiguration) -> String {
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
        await link.close()?.close()
    }

    /// Forgets `connection` if it is still the current one, so that the next caller reconnects.
    package func drop(_ connection: RedisConnection) {
        if link.drop(connection) {
            logger.debug("redis connection dropped", metadata: ["endpoint": "\(connection.endpoint)"])
        }
    }

    /// The live connection, making one when there is none. Concurrent callers share one attempt.
    package func connection() async throws -> RedisConnection {
        try await link.connection(
            connect: { try await establish(onClose: { [weak self] in self?.connectionClosed() }) },
            close: { await $0.close() },
            attemptFailed: { logger.debug("redis connection attempt failed", metadata: ["error": "\($0)"]) }
        )
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
