import Logging
import NIOCore
import Tooz

/// The handler of one transport connection of a ZooKeeper session: it cuts the byte stream
/// into frames and hands them, tagged with the connection id, to the session driver; and it
/// reports the end of the connection once.
///
/// It holds no protocol state: what a frame means is the session state machine's business,
/// and frames are written by the driver straight to the channel. A stream that cannot be
/// framed (a negative or oversized length) is unusable, so the channel is closed, which the
/// driver sees as a lost connection.
final class ZooKeeperChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: ZooKeeperConnectionID
    private var processor: NIOSingleStepByteToMessageProcessor<ZooKeeperFrameDecoder>
    private let onFrame: (ZooKeeperConnectionID, ByteBuffer) -> Void
    private let onInactive: (ZooKeeperConnectionID, (any Error)?) -> Void
    private var isActive = true
    /// Why we closed the channel ourselves (a stream that cannot be framed, a channel error).
    private var failure: (any Error)?
    private let logger: Logger

    /// - Parameters:
    ///   - onFrame: called on the event loop with each frame, without its length prefix.
    ///   - onInactive: called once on the event loop when the channel is gone, with the error
    ///     that made the handler close it (`nil` when the peer or the driver closed it).
    init(
        connection: ZooKeeperConnectionID,
        maximumFrameLength: Int,
        logger: Logger,
        onFrame: @escaping (ZooKeeperConnectionID, ByteBuffer) -> Void,
        onInactive: @escaping (ZooKeeperConnectionID, (any Error)?) -> Void
    ) {
        self.connection = connection
        self.processor = NIOSingleStepByteToMessageProcessor(ZooKeeperFrameDecoder(maximumFrameLength: maximumFrameLength))
        self.logger = logger
        self.onFrame = onFrame
        self.onInactive = onInactive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.isActive else { return }
        let buffer = self.unwrapInboundIn(data)
        do {
            try self.processor.process(buffer: buffer) { frame in
                guard self.isActive else { return }
                self.onFrame(self.connection, frame)
            }
        } catch {
            self.logger.debug(
                "ZooKeeper stream cannot be framed; closing the connection",
                metadata: ["tooz_connection_id": "\(self.connection.rawValue)", "zookeeper.error": "\(error)"]
            )
            if self.failure == nil { self.failure = error }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.reportInactive()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A pipeline torn down without channelInactive (a failed connect) still ends the connection.
        self.reportInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug(
            "ZooKeeper connection error; closing it",
            metadata: ["tooz_connection_id": "\(self.connection.rawValue)", "zookeeper.error": "\(error)"]
        )
        if self.failure == nil { self.failure = error }
        context.close(promise: nil)
    }

    private func reportInactive() {
        guard self.isActive else { return }
        self.isActive = false
        self.onInactive(self.connection, self.failure)
    }
}

@available(*, unavailable)
extension ZooKeeperChannelHandler: Sendable {}
