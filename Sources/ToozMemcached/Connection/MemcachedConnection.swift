import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Tooz
import ToozNIO

/// One connection to a memcached server: many requests in flight from many tasks, pipelined,
/// with replies matched in order.
///
/// A thin async shell around a channel whose last handler is ``MemcachedChannelHandler``. Every
/// failure is a `ToozError` whose message names the server and the command, never a key or a
/// value.
///
/// ```swift
/// let connection = try await MemcachedConnection.connect(configuration: configuration, logger: logger)
/// let stored = try await connection.send(try .set("k", value: Array("v".utf8), clientFlags: 0, ttl: 30))
/// await connection.close()
/// ```
package final class MemcachedConnection: Sendable {
    /// The server, as `host:port`.
    package let endpoint: String

    private let channel: any Channel
    private let handler: NIOLoopBound<MemcachedChannelHandler>
    private let commandTimeout: Duration
    private let logger: Logger

    private init(
        endpoint: String,
        channel: any Channel,
        handler: NIOLoopBound<MemcachedChannelHandler>,
        commandTimeout: Duration,
        logger: Logger
    ) {
        self.endpoint = endpoint
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

    /// The event loop the connection's channel runs on.
    package var eventLoop: any EventLoop { self.channel.eventLoop }

    // MARK: - Connecting

    /// Connects over TCP (with `TCP_NODELAY`, and TLS if configured), then proves that the peer
    /// speaks memcached's meta protocol: it must answer `mn` with `MN`.
    ///
    /// The TCP connect, and then the `mn` round trip (TLS is set up while it waits), are each
    /// bounded by ``MemcachedConnectionConfiguration/connectTimeout``, so a silent peer fails
    /// as surely as one that answers something else.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: where the channel runs; pass an `EventLoop` to pin it to that loop.
    ///   - onClose: called exactly once, on the event loop, when the connection ends after this
    ///     method returned, whether by ``close()``, by the server, or by an error.
    /// - Throws: `connectionFailed` when the server cannot be reached, is not a memcached ≥ 1.6
    ///   meta-protocol server, fails TLS, or times out; `invalidConfiguration` when a TLS file
    ///   cannot be used.
    package static func connect(
        configuration: MemcachedConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws(ToozError) -> MemcachedConnection {
        let endpoint = configuration.endpoint
        let tls = try configuration.tls.map { tls throws(ToozError) in
            try tls.clientSettings(host: configuration.host, endpoint: endpoint)
        }
        var logger = logger
        logger[metadataKey: "memcached.endpoint"] = "\(endpoint)"
        let handlerLogger = logger
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            // Requests are small and each waits for its reply: Nagle would only add latency.
            .channelOption(.socketOption(.tcp_nodelay), value: 1)

        let channel: any Channel
        let handler: NIOLoopBound<MemcachedChannelHandler>
        do {
            // The handler comes back from the initializer itself: a TLS failure can tear the
            // pipeline down before a later lookup would find it, taking the reason with it.
            (channel, handler) = try await bootstrap.connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let sslHandler = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname)
                        try channel.pipeline.syncOperations.addHandler(sslHandler)
                    }
                    let handler = MemcachedChannelHandler(
                        endpoint: endpoint,
                        decoderLimits: configuration.decoderLimits,
                        logger: handlerLogger,
                        onClose: onClose
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch {
            throw ToozError(.connectionFailed, "cannot connect to memcached at \(endpoint)", underlying: error)
        }

        do {
            try await self.verifyMetaProtocol(
                handler: handler,
                eventLoop: channel.eventLoop,
                endpoint: endpoint,
                timeout: configuration.connectTimeout
            )
            let open = try await channel.eventLoop.submit { handler.value.armCloseNotification() }.get()
            guard open else {
                throw ToozError(.connectionFailed, "the memcached connection to \(endpoint) closed right after it was set up")
            }
        } catch {
            logger.debug("memcached handshake failed", metadata: ["memcached.error": "\(error)"])
            try? await channel.close().get()
            if let error = error as? ToozError { throw error }
            if error is CancellationError {
                throw ToozError(.connectionFailed, "connecting to memcached at \(endpoint) was cancelled", underlying: error)
            }
            throw ToozError(.connectionFailed, "the memcached connection to \(endpoint) closed while it was set up", underlying: error)
        }
        logger.debug("memcached connection established")
        return MemcachedConnection(
            endpoint: endpoint,
            channel: channel,
            handler: handler,
            commandTimeout: configuration.commandTimeout,
            logger: logger
        )
    }

    /// Sends `mn` and insists on `MN`. A text-protocol-only memcached answers `ERROR`, an HTTP
    /// server a status line the decoder rejects, a silent peer nothing: each is told apart from
    /// a connection that merely broke, so the message says what is wrong.
    private static func verifyMetaProtocol(
        handler: NIOLoopBound<MemcachedChannelHandler>,
        eventLoop: any EventLoop,
        endpoint: String,
        timeout: Duration
    ) async throws {
        let notMeta = "\(endpoint) is not a memcached ≥ 1.6 server speaking the meta protocol"
        let response: MemcachedResponse
        do {
            response = try await self.roundTrip([.noop], handler: handler, eventLoop: eventLoop, defaultTimeout: timeout)[0]
        } catch let error as ToozError where error.code == .timedOut {
            throw ToozError(.connectionFailed, "\(notMeta), or is not answering: no reply to mn within \(timeout)", underlying: error)
        } catch let error as ToozError where error.code == .backendError {
            // A garbled reply or an error line (`ERROR` from a server without the meta protocol).
            throw ToozError(.connectionFailed, "\(notMeta): \(error.message)", underlying: error)
        }
        guard response.status == .noop else {
            throw ToozError(.connectionFailed, "\(notMeta): it answered mn with \(response.status) instead of MN")
        }
    }

    // MARK: - Requests

    /// Sends one request and returns its reply.
    ///
    /// - Throws: `ToozError` `backendError` when the server answers with an error line
    ///   (`SERVER_ERROR`, `CLIENT_ERROR`, `ERROR`; the connection stays usable unless the server
    ///   hangs up) or with bytes that are no reply (the connection is closed and every request
    ///   in flight fails); `timedOut` when no reply comes within the timeout (the connection is
    ///   then closed, because later replies would be out of step, and the other requests in
    ///   flight fail with `connectionFailed`); `connectionFailed` when the connection is or
    ///   becomes closed. `CancellationError` when the calling task is cancelled while it waits;
    ///   the request stays queued so that later replies still match, and its reply is dropped.
    ///   (Untyped `throws` because of that `CancellationError`.)
    package func send(_ request: MemcachedRequest) async throws -> MemcachedResponse {
        try await Self.roundTrip([request], handler: self.handler, eventLoop: self.channel.eventLoop, defaultTimeout: self.commandTimeout)[0]
    }

    /// Sends `requests` in one write and flush (a pipeline: a batch of gets costs one round
    /// trip) and returns their replies in the same order.
    ///
    /// - Throws: like ``send(_:)-(MemcachedRequest)``; one failed request fails the whole batch
    ///   (an error line for one of them leaves the connection usable).
    package func send(_ requests: [MemcachedRequest]) async throws -> [MemcachedResponse] {
        guard !requests.isEmpty else { return [] }
        return try await Self.roundTrip(requests, handler: self.handler, eventLoop: self.channel.eventLoop, defaultTimeout: self.commandTimeout)
    }

    /// Closes the connection and waits until the channel is gone. Requests in flight fail
    /// with `connectionFailed`; `onClose` runs (once) before this returns. Calling it again
    /// does nothing.
    package func close() async {
        self.channel.close(promise: nil)
        try? await self.channel.closeFuture.get()
        self.logger.debug("memcached connection closed")
    }

    // MARK: - Sending

    private static func roundTrip(
        _ requests: [MemcachedRequest],
        handler: NIOLoopBound<MemcachedChannelHandler>,
        eventLoop: any EventLoop,
        defaultTimeout: Duration
    ) async throws -> [MemcachedResponse] {
        let replies = MemcachedPendingReplies(count: requests.count)
        var outgoing: [MemcachedChannelHandler.Outgoing] = []
        outgoing.reserveCapacity(requests.count)
        for (index, request) in requests.enumerated() {
            let pending = MemcachedChannelHandler.StateMachine.Request(
                slot: MemcachedReplySlot(replies: replies, index: index),
                command: request.name,
                timeout: request.timeout ?? defaultTimeout
            )
            outgoing.append(MemcachedChannelHandler.Outgoing(bytes: request.encoded, request: pending))
        }
        let batch = outgoing
        return try await replies.wait {
            // A caller on the loop (the coordinator prefers it) writes now, not one queued task later.
            if eventLoop.inEventLoop {
                handler.value.send(batch, replies: replies)
            } else {
                eventLoop.execute { handler.value.send(batch, replies: replies) }
            }
        }
    }
}
