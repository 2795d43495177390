import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Tooz
import ToozNIO

/// One connection to a Redis server: many requests in flight from many tasks, pipelined, with
/// replies matched in order, and pub/sub messages on the side.
///
/// A thin async shell around a channel whose last handler is ``RedisChannelHandler``. Every
/// failure is a `ToozError` whose message names the endpoint and the command, never its
/// arguments or a password.
///
/// ```swift
/// let connection = try await RedisConnection.connect(to: .tcp(host: "127.0.0.1", port: 6379),
///                                                    configuration: configuration, logger: logger)
/// defer { Task { await connection.close() } }   // or close it in structured code
/// let value = try await connection.send(RedisCommand("GET", "key"))
/// ```
package final class RedisConnection: Sendable {
    /// The server this connection talks to.
    package let endpoint: RedisEndpoint
    /// The protocol the handshake settled on: 3 (`HELLO 3`) or 2 (the fallback for servers without `HELLO`).
    package let protocolVersion: Int
    /// The server's version from `HELLO`'s reply, or `nil` (RESP2 fallback).
    package let serverVersion: String?

    private let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let commandTimeout: Duration
    private let logger: Logger

    private init(
        endpoint: RedisEndpoint,
        protocolVersion: Int,
        serverVersion: String?,
        channel: any Channel,
        handler: NIOLoopBound<RedisChannelHandler>,
        commandTimeout: Duration,
        logger: Logger
    ) {
        self.endpoint = endpoint
        self.protocolVersion = protocolVersion
        self.serverVersion = serverVersion
        self.channel = channel
        self.handler = handler
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    deinit {
        // A connection dropped without close() must not keep its socket open.
        self.channel.close(promise: nil)
    }

    /// Whether the channel is still open. A `false` connection fails every request at once.
    package var isActive: Bool { self.channel.isActive }

    // MARK: - Connecting

    /// Connects (TCP or unix socket, TLS if configured), then runs the handshake.
    ///
    /// The handshake is `HELLO 3 [AUTH user password] [SETNAME name]`; a server that does not
    /// know `HELLO` gets `AUTH` and `CLIENT SETNAME` instead and is spoken to in RESP2. Then
    /// `SELECT database`, if one is configured. The peer must answer like a Redis server
    /// (`HELLO`'s map, or `PONG` to a `PING`); anything else closes the channel.
    ///
    /// The TCP connect, and then each handshake command (TLS is set up while `HELLO` waits), is
    /// bounded by ``RedisConnectionConfiguration/connectTimeout``. Task cancellation is honoured
    /// during the handshake only.
    ///
    /// - Parameters:
    ///   - onMessage: called on the channel's event loop with every message of a channel this
    ///     connection subscribed to (see ``subscribe(_:)``); it must not block.
    ///   - onInvalidation: called on the event loop with every client-tracking invalidation
    ///     (see ``enableBroadcastTracking(prefixes:)``); it must not block.
    ///   - onClose: called exactly once, on the event loop, when the connection ends after this
    ///     method returned, whether by ``close()``, by the server, or by an error.
    /// - Throws: `connectionFailed` when the server cannot be reached, does not speak Redis,
    ///   refuses the credentials ("authentication failed") or the database, or times out;
    ///   `invalidConfiguration` when a TLS file cannot be used.
    package static func connect(
        to endpoint: RedisEndpoint,
        configuration: RedisConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws(ToozError) -> RedisConnection {
        let tls = try configuration.tls.map { tls throws(ToozError) in try tls.clientSettings(for: endpoint) }
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(endpoint)"
        let handlerLogger = logger
        let bootstrap = ClientBootstrap(group: eventLoopGroup).connectTimeout(TimeAmount(configuration.connectTimeout))
        // The handler comes back from the initializer itself: a TLS failure can tear the
        // pipeline down before a later lookup would find it, taking the reason with it.
        let initializer: @Sendable (any Channel) -> EventLoopFuture<(any Channel, NIOLoopBound<RedisChannelHandler>)> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    let sslHandler = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname)
                    try channel.pipeline.syncOperations.addHandler(sslHandler)
                }
                let handler = RedisChannelHandler(
                    endpoint: endpoint,
                    decoderLimits: configuration.decoderLimits,
                    logger: handlerLogger,
                    onMessage: onMessage,
                    onInvalidation: onInvalidation,
                    onClose: onClose
                )
                try channel.pipeline.syncOperations.addHandler(handler)
                return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        }

        let channel: any Channel
        let handler: NIOLoopBound<RedisChannelHandler>
        do {
            switch endpoint {
            case .tcp(let host, let port):
                (channel, handler) = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            case .unixSocket(let path):
                (channel, handler) = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            }
        } catch {
            throw ToozError(.connectionFailed, "cannot connect to the Redis server at \(endpoint)", underlying: error)
        }
        return try await self.establish(channel: channel, handler: handler, endpoint: endpoint, configuration: configuration, logger: logger)
    }

    /// Runs the handshake over a `channel` that is already connected, adding the handler to it
    /// first; for tests (`NIOAsyncTestingChannel`) and transports made elsewhere.
    ///
    /// Behaves like ``connect(to:configuration:eventLoopGroup:logger:onMessage:onInvalidation:onClose:)`` from
    /// the handshake on; on failure the channel is closed.
    package static func connect(
        over channel: any Channel,
        endpoint: RedisEndpoint,
        configuration: RedisConnectionConfiguration,
        logger: Logger,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws(ToozError) -> RedisConnection {
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(endpoint)"
        let handlerLogger = logger
        let handler: NIOLoopBound<RedisChannelHandler>
        do {
            handler = try await channel.eventLoop.submit {
                let handler = RedisChannelHandler(
                    endpoint: endpoint,
                    decoderLimits: configuration.decoderLimits,
                    logger: handlerLogger,
                    onMessage: onMessage,
                    onInvalidation: onInvalidation,
                    onClose: onClose
                )
                try channel.pipeline.syncOperations.addHandler(handler)
                return NIOLoopBound(handler, eventLoop: channel.eventLoop)
            }.get()
        } catch {
            try? await channel.close().get()
            throw ToozError(.connectionFailed, "cannot set up the Redis connection to \(endpoint)", underlying: error)
        }
        return try await self.establish(channel: channel, handler: handler, endpoint: endpoint, configuration: configuration, logger: logger)
    }

    private static func establish(
        channel: any Channel,
        handler: NIOLoopBound<RedisChannelHandler>,
        endpoint: RedisEndpoint,
        configuration: RedisConnectionConfiguration,
        logger: Logger
    ) async throws(ToozError) -> RedisConnection {
        let handshake: RedisHandshake.Outcome
        do {
            handshake = try await RedisHandshake(endpoint: endpoint, configuration: configuration).run { command in
                let replies = try await Self.roundTrip(
                    [command],
                    handler: handler,
                    eventLoop: channel.eventLoop,
                    defaultTimeout: configuration.connectTimeout
                )
                return replies[0]
            }
            let open = try await channel.eventLoop.submit { handler.value.armCloseNotification() }.get()
            guard open else {
                throw ToozError(.connectionFailed, "the Redis connection to \(endpoint) closed right after its handshake")
            }
        } catch {
            logger.debug("Redis handshake failed", metadata: ["redis.error": "\(error)"])
            try? await channel.close().get()
            if let error = error as? ToozError { throw error }
            if error is CancellationError {
                throw ToozError(.connectionFailed, "connecting to the Redis server at \(endpoint) was cancelled", underlying: error)
            }
            throw ToozError(.connectionFailed, "the Redis connection to \(endpoint) closed while it was set up", underlying: error)
        }
        logger.debug(
            "Redis connection established",
            metadata: ["redis.protocol": "\(handshake.protocolVersion)", "redis.version": "\(handshake.serverVersion ?? "unknown")"]
        )
        return RedisConnection(
            endpoint: endpoint,
            protocolVersion: handshake.protocolVersion,
            serverVersion: handshake.serverVersion,
            channel: channel,
            handler: handler,
            commandTimeout: configuration.commandTimeout,
            logger: logger
        )
    }

    // MARK: - Commands

    /// Sends one command and returns its reply.
    ///
    /// Error replies are returned as values (``RESPValue/simpleError(_:)``,
    /// ``RESPValue/bulkError(_:)``), so the caller decides what they mean (a `NOSCRIPT` is a
    /// reason to send the script, not a failure).
    ///
    /// - Throws: `ToozError` `connectionFailed` when the connection is or becomes closed, when no
    ///   reply comes within the timeout (the connection is then closed, because later replies
    ///   would be out of step), or when the reply cannot be decoded (the connection is closed
    ///   and every request in flight fails). `CancellationError` when the calling task is
    ///   cancelled while it waits; the request stays queued so that later replies still match,
    ///   and its reply is dropped when it comes. (Untyped `throws` because of that
    ///   `CancellationError`.)
    package func send(_ command: RedisCommand) async throws -> RESPValue {
        try await Self.roundTrip([command], handler: self.handler, eventLoop: self.channel.eventLoop, defaultTimeout: self.commandTimeout)[0]
    }

    /// Sends `commands` in one write (a pipeline) and returns their replies in the same order.
    ///
    /// - Throws: like ``send(_:)-(RedisCommand)``; a failure fails the whole pipeline.
    package func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        return try await Self.roundTrip(commands, handler: self.handler, eventLoop: self.channel.eventLoop, defaultTimeout: self.commandTimeout)
    }

    /// Subscribes to `channels` and returns once the server confirmed each one.
    ///
    /// Their messages go to the `onMessage` given to `connect`, on the event loop. With RESP3,
    /// other commands keep working on this connection; with RESP2, the server refuses all but
    /// pub/sub commands and `PING` (with an error reply) while any subscription remains.
    ///
    /// - Throws: `backendError` when the server refuses the subscription; otherwise like
    ///   ``send(_:)-(RedisCommand)``.
    package func subscribe(_ channels: [String]) async throws {
        try await self.changeSubscription(.subscribe, channels)
    }

    /// Turns on client-side caching in broadcast mode for keys starting with any of `prefixes`
    /// (`CLIENT TRACKING ON BCAST PREFIX p ...`, Redis 6 or later): from then on, every change
    /// to such a key by any client, and every expiry or eviction of one, reaches the
    /// `onInvalidation` given to `connect`, on this connection, without reading the key first.
    /// The prefixes must not overlap (one may not start another); the server refuses that.
    ///
    /// - Throws: `notImplemented` when the connection speaks RESP2 (its invalidations would need a
    ///   second, subscribed connection); `backendError` when the server refuses (an older
    ///   server, an ACL without `CLIENT`); otherwise like ``send(_:)-(RedisCommand)``.
    package func enableBroadcastTracking(prefixes: [String]) async throws {
        guard self.protocolVersion == 3 else {
            throw ToozError(.notImplemented, "client tracking on this connection needs RESP3; \(self.endpoint) speaks RESP2")
        }
        var arguments: [any RESPBulkConvertible] = ["ON", "BCAST"]
        for prefix in prefixes { arguments += ["PREFIX", prefix] }
        let reply = try await self.send(RedisCommand("CLIENT TRACKING", arguments: arguments))
        if let message = reply.errorMessage {
            throw ToozError(.backendError, "the Redis server at \(self.endpoint) refused CLIENT TRACKING: \(message)")
        }
        guard reply.string == "OK" else {
            throw ToozError(.backendError, "the Redis server at \(self.endpoint) did not answer CLIENT TRACKING with OK")
        }
    }

    /// Unsubscribes from `channels` and returns once the server confirmed each one.
    ///
    /// - Throws: like ``subscribe(_:)``.
    package func unsubscribe(_ channels: [String]) async throws {
        try await self.changeSubscription(.unsubscribe, channels)
    }

    private func changeSubscription(_ change: RedisSubscriptionChange, _ channels: [String]) async throws {
        guard !channels.isEmpty else { return }
        var command = RedisCommand(change.rawValue.uppercased(), arguments: channels)
        command.expectation = .confirmations(change, count: channels.count)
        let reply = try await self.send(command)
        if let message = reply.errorMessage {
            throw ToozError(.backendError, "the Redis server at \(self.endpoint) refused \(command.name): \(message)")
        }
        guard case .array = reply else {
            throw ToozError(.backendError, "the Redis server at \(self.endpoint) answered \(command.name) with something other than confirmations")
        }
    }

    /// Closes the connection and waits until the channel is gone. Requests in flight fail
    /// with `connectionFailed`; `onClose` runs (once) before this returns. Calling it again
    /// does nothing.
    package func close() async {
        self.channel.close(promise: nil)
        try? await self.channel.closeFuture.get()
        self.logger.debug("Redis connection closed")
    }

    // MARK: - Sending

    private static func roundTrip(
        _ commands: [RedisCommand],
        handler: NIOLoopBound<RedisChannelHandler>,
        eventLoop: any EventLoop,
        defaultTimeout: Duration
    ) async throws -> [RESPValue] {
        let replies = RedisPendingReplies(count: commands.count)
        var outgoing: [RedisChannelHandler.Outgoing] = []
        outgoing.reserveCapacity(commands.count)
        for (index, command) in commands.enumerated() {
            let request = RedisConnectionStateMachine.Request(
                slot: RedisReplySlot(replies: replies, index: index),
                command: command.name,
                expectation: command.expectation,
                timeout: command.timeout ?? defaultTimeout
            )
            outgoing.append(RedisChannelHandler.Outgoing(bytes: command.encoded, request: request))
        }
        let requests = outgoing
        return try await replies.wait {
            // A caller on the loop (the coordinator prefers it) writes now, not one queued task later.
            if eventLoop.inEventLoop {
                handler.value.send(requests, replies: replies)
            } else {
                eventLoop.execute { handler.value.send(requests, replies: replies) }
            }
        }
    }
}
