import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// One HTTP/2 connection carrying gRPC calls: unary calls and bidirectional streams, many at a
/// time, each request written and flushed at once.
///
/// A thin async shell around a channel whose pipeline is TLS (optional), `NIOHTTP2Handler` and
/// ``GRPCConnectionHandler``. Calls made from the channel's event loop (a task that prefers the
/// loop as its executor) write without a thread hop, and their replies resume them on the loop.
///
/// Failures are ``GRPCStatus`` errors: the server's status, or `unavailable` for a connection
/// that closed or failed, `deadlineExceeded` for a call that ran out of time, `internal` for a
/// peer that does not speak gRPC.
package final class GRPCConnection: Sendable {
    /// How a connection is set up.
    package struct Configuration: Sendable {
        package var host: String
        package var port: Int
        /// TLS context and SNI name; `nil` for plain HTTP/2 (h2c with prior knowledge).
        package var tls: (context: NIOSSLContext, serverHostname: String?)?
        package var connectTimeout: Duration
        /// The largest response message accepted.
        package var maximumMessageSize: Int
        /// The inbound flow-control window kept open per stream and for the connection.
        package var targetWindow: Int

        package init(host: String, port: Int, connectTimeout: Duration) {
            self.host = host
            self.port = port
            self.tls = nil
            self.connectTimeout = connectTimeout
            self.maximumMessageSize = 64 << 20
            self.targetWindow = 1 << 20
        }

        var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// `host:port`.
    package let endpoint: String
    private let channel: any Channel
    private let handler: NIOLoopBound<GRPCConnectionHandler>
    private let state: GRPCConnectionState

    private init(endpoint: String, channel: any Channel, handler: NIOLoopBound<GRPCConnectionHandler>, state: GRPCConnectionState) {
        self.endpoint = endpoint
        self.channel = channel
        self.handler = handler
        self.state = state
    }

    deinit {
        channel.close(promise: nil)
    }

    /// The loop the channel runs on: the executor callers should prefer.
    package var eventLoop: any EventLoop { channel.eventLoop }

    /// Whether new calls are still taken.
    package var isActive: Bool { channel.isActive && state.refused == nil }

    /// Connects over TCP (`TCP_NODELAY`; TLS with ALPN `h2` when configured) and starts HTTP/2.
    ///
    /// The peer is not proven to speak gRPC here: the first call finds out (a non-HTTP/2 peer
    /// fails it with `unavailable`, an HTTP/2 server that is not gRPC with `internal`).
    ///
    /// - Parameter onClose: called once, on the event loop, when the connection stops taking
    ///   calls after this method returned.
    package static func connect(
        _ configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onClose: (@Sendable (GRPCStatus) -> Void)? = nil
    ) async throws -> GRPCConnection {
        let endpoint = configuration.authority
        let state = GRPCConnectionState(onRefusal: onClose)
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let scheme = configuration.tls == nil ? "http" : "https"
        var http2 = NIOHTTP2Handler.ConnectionConfiguration()
        // etcd (Go's HTTP/2 server) sends a PING with nearly every response to estimate the
        // bandwidth; NIO's default of 200 control frames per 30 s would have us hang up on it
        // after about 200 calls. A misbehaving peer still cannot flood us unboundedly.
        http2.controlFrameRateLimit.maximumCount = 100_000
        http2.controlFrameRateLimit.windowLength = .seconds(1)
        http2.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .initialWindowSize, value: configuration.targetWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 16),
            HTTP2Setting(parameter: .enablePush, value: 0),
        ]
        var streamSettings = NIOHTTP2Handler.StreamConfiguration()
        streamSettings.targetWindowSize = configuration.targetWindow
        let connectionSettings = http2
        let streams = streamSettings
        let (channel, handler) = try await bootstrap.connect(host: configuration.host, port: configuration.port) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls = configuration.tls {
                    let ssl = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname)
                    try channel.pipeline.syncOperations.addHandler(ssl)
                }
                try channel.pipeline.syncOperations.addHandler(
                    NIOHTTP2Handler(mode: .client, connectionConfiguration: connectionSettings, streamConfiguration: streams)
                )
                let handler = GRPCConnectionHandler(
                    scheme: scheme, authority: endpoint, maximumMessageSize: configuration.maximumMessageSize,
                    targetWindow: configuration.targetWindow, state: state
                )
                try channel.pipeline.syncOperations.addHandler(handler)
                return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        }
        return GRPCConnection(endpoint: endpoint, channel: channel, handler: handler, state: state)
    }

    /// Makes one unary call: `request` is the serialized request message; returns the
    /// serialized response.
    ///
    /// - Throws: ``GRPCStatus`` for a call that did not end with `ok` (or ended without exactly
    ///   one message); `CancellationError` when the task is cancelled (the stream is reset).
    package func unary(_ path: String, request: [UInt8], metadata: [(String, String)] = [], timeout: Duration? = nil) async throws -> ByteBuffer {
        let framed = GRPCMessageDeframer.frame(request, allocator: channel.allocator)
        let cancellation = CallCancellation()
        let handler = self.handler
        let loop = channel.eventLoop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
                let reply = UnaryReply()
                let observer = GRPCConnectionHandler.Observer(
                    onMessage: { message in
                        reply.message.withLock { $0 = $0 == nil ? message : $0 }
                    },
                    onEnd: { status in
                        if status.code == .cancelled && cancellation.isCancelled {
                            continuation.resume(throwing: CancellationError())
                        } else if status.code != .ok {
                            continuation.resume(throwing: status)
                        } else if let message = reply.message.withLock({ $0 }) {
                            continuation.resume(returning: message)
                        } else {
                            continuation.resume(throwing: GRPCStatus(.internal, "the call ended ok without a response message"))
                        }
                    }
                )
                Self.onLoop(loop) {
                    guard !cancellation.isCancelled else {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    let id = handler.value.start(
                        path: path, metadata: metadata, message: framed, endStream: true, timeout: timeout.map(TimeAmount.init),
                        observer: observer
                    )
                    if let id { cancellation.started(id) }
                }
            }
        } onCancel: {
            guard let id = cancellation.cancel() else { return }
            Self.onLoop(loop) { handler.value.cancel(id, status: GRPCStatus(.cancelled, "the call was cancelled")) }
        }
    }

    /// Opens a bidirectional stream for `path`. Messages go out with ``GRPCStream/send(_:)``;
    /// the server's messages and the call's end are handed to the callbacks on the event loop
    /// (`onEnd` exactly once, with `ok` or the status the stream failed with), so that a
    /// long-lived stream needs no task of its own to read it.
    ///
    /// - Throws: ``GRPCStatus`` when the connection takes no more calls.
    package func openStream(
        _ path: String, metadata: [(String, String)] = [], onMessage: @escaping @Sendable (ByteBuffer) -> Void,
        onEnd: @escaping @Sendable (GRPCStatus) -> Void
    ) async throws -> GRPCStream {
        let handler = self.handler
        let failure = StartFailure()
        let observer = GRPCConnectionHandler.Observer(
            onMessage: onMessage,
            onEnd: { status in
                if failure.startFinished { onEnd(status) } else { failure.status.withLock { $0 = status } }
            }
        )
        let id: HTTP2StreamID? = try await Self.onLoopReturning(channel.eventLoop) {
            let id = handler.value.start(path: path, metadata: metadata, message: nil, endStream: false, timeout: nil, observer: observer)
            failure.finishStart()
            return id
        }
        guard let id else {
            throw failure.status.withLock { $0 } ?? GRPCStatus(.unavailable, "the stream could not be opened")
        }
        return GRPCStream(streamID: id, handler: handler, eventLoop: channel.eventLoop, allocator: channel.allocator)
    }

    /// Closes the connection and waits until the channel is gone; calls in flight fail.
    package func close() async {
        channel.close(promise: nil)
        try? await channel.closeFuture.get()
    }

    static func onLoop(_ loop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    static func onLoopReturning<Value: Sendable>(_ loop: any EventLoop, _ body: @escaping @Sendable () -> Value) async throws -> Value {
        if loop.inEventLoop { return body() }
        return try await loop.submit(body).get()
    }
}

/// A stream whose call ends while it is being opened throws instead of calling `onEnd`.
private final class StartFailure: Sendable {
    let status = Mutex<GRPCStatus?>(nil)
    private let started = Mutex(false)

    var startFinished: Bool { started.withLock { $0 } }
    func finishStart() { started.withLock { $0 = true } }
}

/// The one message a unary call keeps.
private final class UnaryReply: Sendable {
    let message = Mutex<ByteBuffer?>(nil)
}

/// A unary call's cancellation, which may come before the call has a stream.
private final class CallCancellation: Sendable {
    private enum State {
        case pending
        case started(HTTP2StreamID)
        case cancelled
    }

    private let state = Mutex(State.pending)

    var isCancelled: Bool {
        state.withLock {
            if case .cancelled = $0 { return true }
            return false
        }
    }

    func started(_ id: HTTP2StreamID) {
        state.withLock { if case .pending = $0 { $0 = .started(id) } }
    }

    /// Marks the call cancelled; returns its stream when it has one to reset.
    func cancel() -> HTTP2StreamID? {
        state.withLock { state in
            defer { state = .cancelled }
            if case .started(let id) = state { return id }
            return nil
        }
    }
}

/// A bidirectional gRPC stream opened by ``GRPCConnection/openStream(_:metadata:)``.
package final class GRPCStream: Sendable {
    private let streamID: HTTP2StreamID
    private let handler: NIOLoopBound<GRPCConnectionHandler>
    private let eventLoop: any EventLoop
    private let allocator: ByteBufferAllocator

    init(
        streamID: HTTP2StreamID, handler: NIOLoopBound<GRPCConnectionHandler>,
        eventLoop: any EventLoop, allocator: ByteBufferAllocator
    ) {
        self.streamID = streamID
        self.handler = handler
        self.eventLoop = eventLoop
        self.allocator = allocator
    }

    /// Sends one serialized message, flushed at once. Does nothing once the call has ended.
    package func send(_ message: [UInt8]) {
        let framed = GRPCMessageDeframer.frame(message, allocator: allocator)
        let handler = self.handler
        let id = streamID
        GRPCConnection.onLoop(eventLoop) { handler.value.send(framed, on: id) }
    }

    /// Ends the call (resetting the stream); its `onEnd` is told `cancelled`.
    package func cancel() {
        let handler = self.handler
        let id = streamID
        GRPCConnection.onLoop(eventLoop) {
            handler.value.cancel(id, status: GRPCStatus(.cancelled, "the stream was cancelled"))
        }
    }
}
