import NIOCore
import NIOHPACK
import NIOHTTP2

/// The last handler of a gRPC connection's pipeline, after `NIOHTTP2Handler`: it opens one
/// HTTP/2 stream per call, matches the frames that come back to their calls, keeps the inbound
/// flow-control windows open, and fails every call when the connection ends.
///
/// Confined to the channel's event loop. Calls are driven from ``GRPCConnection``; each call's
/// callbacks run on the loop, `onEnd` exactly once.
final class GRPCConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// What a call is told.
    struct Observer {
        var onMessage: @Sendable (ByteBuffer) -> Void
        var onEnd: @Sendable (GRPCStatus) -> Void
    }

    private struct Call {
        var parser: GRPCResponseParser
        var observer: Observer
        var deadline: Scheduled<Void>?
        /// When a unary call was sent; `nil` for streams, which may rightly wait for ever.
        var unarySince: NIODeadline?
    }

    /// When the connection is judged dead: a unary call has waited `idleBeforePing` with nothing
    /// at all received, a PING is sent (at most one per `pingSpacing`: etcd's gRPC server
    /// sends GOAWAY to clients that ping more often than every 5 s without data between), and
    /// nothing arrives within `pingTimeout`. A frozen server keeps TCP open and would otherwise
    /// hold every call until its own timeout.
    struct Liveness: Sendable {
        var idleBeforePing: TimeAmount = .seconds(2)
        var pingTimeout: TimeAmount = .seconds(2)
        var pingSpacing: TimeAmount = .seconds(5)
        var tick: TimeAmount = .milliseconds(500)
    }

    /// What every new request carries: scheme and authority.
    private let scheme: String
    private let authority: String
    private let maximumMessageSize: Int
    /// The inbound window we keep open, per stream and for the connection.
    private let targetWindow: Int
    private let state: GRPCConnectionState
    private let liveness: Liveness

    private var context: ChannelHandlerContext?
    private var lastInbound = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var lastPing: NIODeadline?
    private var livenessCheck: Scheduled<Void>?
    private var calls: [HTTP2StreamID: Call] = [:]
    private var nextStreamID: Int32 = 1
    /// Set when no new call can start: the connection closed, failed, or was told to go away.
    private var refusal: GRPCStatus?

    init(
        scheme: String, authority: String, maximumMessageSize: Int, targetWindow: Int, state: GRPCConnectionState,
        liveness: Liveness = Liveness()
    ) {
        self.scheme = scheme
        self.authority = authority
        self.maximumMessageSize = maximumMessageSize
        self.targetWindow = targetWindow
        self.state = state
        self.liveness = liveness
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        scheduleLivenessCheck(on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        livenessCheck?.cancel()
        livenessCheck = nil
        self.context = nil
    }

    private func scheduleLivenessCheck(on loop: any EventLoop) {
        livenessCheck = loop.assumeIsolated().scheduleTask(in: liveness.tick) { [weak self] in
            guard let self, self.context != nil else { return }
            self.checkLiveness()
            self.scheduleLivenessCheck(on: loop)
        }
    }

    private func checkLiveness() {
        guard let context, refusal == nil else { return }
        let now = NIODeadline.now()
        if let sent = pingSentAt {
            if lastInbound >= sent {
                pingSentAt = nil
            } else if now - sent >= liveness.pingTimeout {
                refuse(GRPCStatus(.unavailable, "the server stopped answering (nothing received for \(now - lastInbound), not even a PING's answer)"))
                context.close(promise: nil)
            }
            return
        }
        guard let oldest = calls.values.compactMap(\.unarySince).min() else { return }
        let waitingSince = max(oldest, lastInbound)
        guard now - waitingSince >= liveness.idleBeforePing else { return }
        if let last = lastPing, now - last < liveness.pingSpacing { return }
        pingSentAt = now
        lastPing = now
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: UInt64(now.uptimeNanoseconds)), ack: false))), promise: nil)
    }

    // MARK: Calls

    /// Opens a stream for `path`, sends `message` if given (ending our side when `endStream`),
    /// and returns the stream's id; `nil` when the call ended at once (its `onEnd` ran).
    func start(
        path: String, metadata: [(String, String)], message: ByteBuffer?, endStream: Bool, timeout: TimeAmount?,
        observer: Observer
    ) -> HTTP2StreamID? {
        guard let context, refusal == nil else {
            observer.onEnd(refusal ?? GRPCStatus(.unavailable, "the connection is closed"))
            return nil
        }
        let streamID = HTTP2StreamID(nextStreamID)
        nextStreamID += 2
        if nextStreamID > Int32.max - 2 {
            // Stream ids cannot be reused: the next call needs a new connection.
            refuse(GRPCStatus(.unavailable, "the connection has used up its stream ids"))
        }
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": scheme, ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let timeout {
            // grpc-timeout allows at most 8 digits: milliseconds cover 27 hours.
            headers.add(name: "grpc-timeout", value: "\(min(max(timeout.nanoseconds / 1_000_000, 1), 99_999_999))m")
        }
        for (name, value) in metadata { headers.add(name: name, value: value) }

        var call = Call(
            parser: GRPCResponseParser(maximumMessageSize: maximumMessageSize), observer: observer,
            unarySince: endStream ? NIODeadline.now() : nil
        )
        if let timeout {
            call.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.cancel(streamID, status: GRPCStatus(.deadlineExceeded, "no answer within \(timeout)"))
            }
        }
        calls[streamID] = call

        let headersEnd = message == nil && endStream
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] error in
            self?.end(streamID, GRPCStatus(.unavailable, "the request could not be sent: \(error)"))
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: headersEnd)))), promise: written)
        if let message {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(message), endStream: endStream)))), promise: nil)
        }
        context.flush()
        return calls[streamID] == nil ? nil : streamID
    }

    /// Sends one more message on an open stream.
    func send(_ message: ByteBuffer, on streamID: HTTP2StreamID) {
        guard let context, calls[streamID] != nil else { return }
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(message))))), promise: nil)
    }

    /// Ends the call with `status` and resets its stream, unless it has ended already.
    func cancel(_ streamID: HTTP2StreamID, status: GRPCStatus) {
        guard calls[streamID] != nil else { return }
        end(streamID, status)
        context?.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.cancel))), promise: nil)
    }

    /// Whether new calls may start here.
    var acceptsCalls: Bool { context != nil && refusal == nil }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastInbound = .now()
        if frame.streamID == .rootStream {
            if case .goAway(let lastStreamID, let code, _) = frame.payload {
                goAway(lastStreamID: lastStreamID, code: code)
            }
            return
        }
        guard var call = calls[frame.streamID] else { return }
        let events = call.parser.receive(frame.payload)
        calls[frame.streamID] = call
        dispatch(events, of: frame.streamID, observer: call.observer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let update as NIOHTTP2WindowUpdatedEvent:
            // We consume every byte as it arrives, so whatever the peer used up is given back
            // once half the window is gone: long watch and keepalive streams never stall.
            guard let inbound = update.inboundWindowSize, inbound < targetWindow / 2 else { break }
            guard update.streamID == .rootStream || calls[update.streamID] != nil else { break }
            context.writeAndFlush(
                wrapOutboundOut(HTTP2Frame(streamID: update.streamID, payload: .windowUpdate(windowSizeIncrement: targetWindow - inbound))),
                promise: nil
            )
        case let closed as StreamClosedEvent:
            if calls[closed.streamID] != nil {
                let reason = closed.reason.map { " (\($0))" } ?? ""
                end(closed.streamID, GRPCStatus(.unavailable, "the stream closed before the call ended\(reason)"))
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An HTTP/2 protocol error or a TLS failure: nothing on this connection can be trusted.
        refuse(GRPCStatus(.unavailable, "the connection failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        refuse(GRPCStatus(.unavailable, "the connection closed"))
        let status = refusal!
        for streamID in Array(calls.keys) { end(streamID, status) }
        context.fireChannelInactive()
    }

    // MARK: Helpers

    private func goAway(lastStreamID: HTTP2StreamID, code: HTTP2ErrorCode) {
        refuse(GRPCStatus(.unavailable, "the server is going away (\(code))"))
        // Calls the server never saw may be retried elsewhere; the rest finish normally.
        for streamID in Array(calls.keys) where streamID > lastStreamID {
            end(streamID, GRPCStatus(.unavailable, "the server went away before it took the call (\(code))"))
        }
    }

    private func refuse(_ status: GRPCStatus) {
        guard refusal == nil else { return }
        refusal = status
        state.refuse(status)
    }

    private func dispatch(_ events: [GRPCResponseParser.Event], of streamID: HTTP2StreamID, observer: Observer) {
        for event in events {
            switch event {
            case .message(let message): observer.onMessage(message)
            case .end(let status): finish(streamID, status)
            }
        }
    }

    private func end(_ streamID: HTTP2StreamID, _ status: GRPCStatus) {
        guard var call = calls[streamID] else { return }
        let events = call.parser.fail(status)
        calls[streamID] = call
        dispatch(events, of: streamID, observer: call.observer)
    }

    private func finish(_ streamID: HTTP2StreamID, _ status: GRPCStatus) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        call.deadline?.cancel()
        call.observer.onEnd(status)
    }
}
