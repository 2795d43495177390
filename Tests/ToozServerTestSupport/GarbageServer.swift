import NIOCore
import NIOPosix
import Synchronization

/// A counter that closures on any thread can bump.
package final class Tally: Sendable {
    private let value = Mutex(0)

    package init() {}

    package func add() { self.value.withLock { $0 += 1 } }
    package var count: Int { self.value.withLock { $0 } }
}

/// A TCP listener on a loopback port that answers anything with `reply` (or never answers):
/// a stand-in for a server that is not the one a client expects.
package final class GarbageServer: Sendable {
    package let channel: any Channel
    package let port: Int
    private let accepted: Tally

    private init(channel: any Channel, accepted: Tally) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.accepted = accepted
    }

    package var connections: Int { self.accepted.count }

    /// - Parameter closeAtOnce: close every connection as soon as it is accepted, without
    ///   reading or answering (a server that hangs up).
    package static func start(reply: String?, closeAtOnce: Bool = false) async throws -> GarbageServer {
        let accepted = Tally()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.add()
                return channel.eventLoop.makeCompletedFuture {
                    if closeAtOnce {
                        try channel.pipeline.syncOperations.addHandler(Closer())
                    } else {
                        try channel.pipeline.syncOperations.addHandler(Responder(reply: reply))
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return GarbageServer(channel: channel, accepted: accepted)
    }

    package func close() async throws {
        try await self.channel.close()
    }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: String?

        init(reply: String?) { self.reply = reply }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard let reply else { return }
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
        }
    }

    private final class Closer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        func channelActive(context: ChannelHandlerContext) {
            context.close(promise: nil)
        }
    }
}
