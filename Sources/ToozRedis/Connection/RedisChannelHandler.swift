import Logging
import NIOCore
import Tooz
import ToozNIO

/// The channel handler of a Redis connection: it writes requests, decodes replies, and carries
/// out what ``RedisConnectionStateMachine`` decides.
///
/// It is the last handler of the pipeline (after TLS, if any) and lives on the channel's event
/// loop; ``RedisConnection`` reaches it through `NIOLoopBound`. Replies are decoded in place with
/// a ``RESPDecoder`` (no separate decoding handler, so a decoding error is handled here, once).
/// A `close` travelling through the pipeline fails every pending request before the channel
/// goes, and the end of the channel fails whatever is left.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One command to write.
    struct Outgoing {
        var bytes: ByteBuffer
        var request: RedisConnectionStateMachine<RedisReplySlot>.Request
    }

    private var stateMachine: RedisConnectionStateMachine<RedisReplySlot>
    private var decoder: NIOSingleStepByteToMessageProcessor<RESPDecoder>
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private let onMessage: (@Sendable (RedisPubSubMessage) -> Void)?
    private let onInvalidation: (@Sendable (RedisInvalidation) -> Void)?
    private var onClose: (@Sendable () -> Void)?
    /// Whether ``onClose`` may be called: only once the connection was handed to its owner.
    private var closeNotificationArmed = false
    private var isInactive = false
    private let logger: Logger

    init(
        endpoint: RedisEndpoint,
        decoderLimits: RESPDecoder.Limits,
        logger: Logger,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)?,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: (@Sendable () -> Void)?
    ) {
        self.stateMachine = RedisConnectionStateMachine(endpoint: endpoint.description)
        self.decoder = NIOSingleStepByteToMessageProcessor(RESPDecoder(limits: decoderLimits))
        self.onMessage = onMessage
        self.onInvalidation = onInvalidation
        self.onClose = onClose
        self.logger = logger
    }

    // MARK: - Requests

    /// Writes `commands` in one flush; their replies complete `replies` in order.
    func send(_ commands: [Outgoing], replies: RedisPendingReplies) {
        guard let context = self.context else {
            // Removed from the pipeline: the channel is gone, and the state machine knows why.
            replies.fail(self.stateMachine.notSentError(commands.map(\.request.command)))
            return
        }
        let now = context.eventLoop.now
        switch self.stateMachine.send(commands.map(\.request), now: now) {
        case .write(let deadline):
            for command in commands {
                context.write(self.wrapOutboundOut(command.bytes), promise: nil)
            }
            context.flush()
            if let deadline { self.armTimer(at: deadline, context: context) }
        case .fail(let error):
            replies.fail(error)
        }
    }

    /// Allows ``onClose`` from now on; `false` if the channel is already gone.
    func armCloseNotification() -> Bool {
        guard !self.isInactive else { return false }
        self.closeNotificationArmed = true
        return true
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The pipeline is torn down after channelInactive; anything left would never be answered.
        self.execute(self.stateMachine.channelInactive())
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        do {
            try self.decoder.process(buffer: buffer) { value in
                self.receive(value, context: context)
            }
        } catch {
            self.logger.debug("Redis reply could not be decoded; closing", metadata: ["redis.error": "\(error)"])
            self.execute(self.stateMachine.decodingFailed(error), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.execute(self.stateMachine.channelInactive())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("Redis connection failed; closing", metadata: ["redis.error": "\(error)"])
        self.execute(self.stateMachine.errorCaught(error), context: context)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if case .failAllAndClose(let failures) = self.stateMachine.closeRequested() {
            self.cancelTimer()
            Self.fail(failures)
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: - Carrying out actions

    private func receive(_ value: RESPValue, context: ChannelHandlerContext) {
        switch self.stateMachine.receive(value) {
        case .succeed(let slot, let value, let deadline):
            slot.replies.succeed(value, at: slot.index)
            if let deadline { self.armTimer(at: deadline, context: context) }
        case .deliver(let message):
            self.onMessage?(message)
        case .invalidate(let invalidation):
            self.onInvalidation?(invalidation)
        case .none:
            break
        case .failAllAndClose(let failures):
            self.logger.debug("Redis server sent a reply to no request; closing")
            self.cancelTimer()
            Self.fail(failures)
            context.close(promise: nil)
        }
    }

    private func execute(_ action: RedisConnectionStateMachine<RedisReplySlot>.CloseAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .failAllAndClose(let failures):
            self.cancelTimer()
            Self.fail(failures)
            context.close(promise: nil)
        }
    }

    private func execute(_ action: RedisConnectionStateMachine<RedisReplySlot>.InactiveAction) {
        switch action {
        case .none:
            break
        case .failAllAndNotifyClosed(let failures):
            self.isInactive = true
            self.cancelTimer()
            Self.fail(failures)
            if self.closeNotificationArmed, let onClose = self.onClose {
                self.onClose = nil
                onClose()
            }
        }
    }

    private static func fail(_ failures: [RedisConnectionStateMachine<RedisReplySlot>.Failure]) {
        for failure in failures {
            failure.slot.replies.fail(failure.error)
        }
    }

    private func armTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            self.timerFired()
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
    }

    private func timerFired() {
        guard let context = self.context else { return }
        switch self.stateMachine.timerFired(now: context.eventLoop.now) {
        case .none:
            break
        case .rearm(let deadline):
            self.armTimer(at: deadline, context: context)
        case .failAllAndClose(let failures):
            self.logger.debug("Redis command timed out; closing")
            Self.fail(failures)
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RedisChannelHandler: Sendable {}
