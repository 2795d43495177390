import NIOCore
import NIOPosix
import Synchronization

/// The network between one torture worker and the server: a TCP proxy on loopback that the
/// harness can partition.
///
/// A partition stops reading on both sides of every connection, so bytes queue in the kernel
/// and nothing is delivered, refused or reset: a link that went dark, as when a cable or a
/// switch fails, not a closed connection. What the proxy reads anyway (NIO reads to the end of
/// a stream when its peer closes) is held back, the close too. Healing reads again and delivers
/// what queued, in order. New connections made during a partition are accepted (the handshake
/// is the kernel's) but carry nothing until it heals.
final class TortureProxy: Sendable {
    /// The port workers connect to instead of the server's.
    let port: Int
    private let listener: any Channel
    private let gate = Atomic<Bool>(false)
    private let state = Mutex(State())

    private struct State {
        var partitioned = false
        var connections: [ObjectIdentifier: (channel: any Channel, forwarder: Forwarder)] = [:]
        var closed = false
    }

    private init(port: Int, listener: any Channel) {
        self.port = port
        self.listener = listener
    }

    /// Listens on a free loopback port and forwards every connection to `host`:`port`.
    static func start(forwardingTo host: String, port targetPort: Int, on group: any EventLoopGroup) async throws -> TortureProxy {
        let target = try SocketAddress.makeAddressResolvingHost(host, port: targetPort)
        let box = Mutex<TortureProxy?>(nil)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.autoRead, value: false)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(to: target)
                    .flatMap { outbound in
                        guard let proxy = box.withLock({ $0 }) else {
                            // Nobody connects before start returns.
                            outbound.close(promise: nil)
                            return inbound.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                        }
                        let toServer = Forwarder(partner: outbound, proxy: proxy)
                        let toClient = Forwarder(partner: inbound, proxy: proxy)
                        do {
                            try inbound.pipeline.syncOperations.addHandler(toServer)
                            try outbound.pipeline.syncOperations.addHandler(toClient)
                        } catch {
                            outbound.close(promise: nil)
                            return inbound.eventLoop.makeFailedFuture(error)
                        }
                        proxy.adopt((inbound, toServer), (outbound, toClient))
                        return inbound.eventLoop.makeSucceededVoidFuture()
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw CLIFailure(.software, "the torture proxy has no port")
        }
        let proxy = TortureProxy(port: port, listener: listener)
        box.withLock { $0 = proxy }
        return proxy
    }

    /// Registers a connection pair and lets it flow unless the link is partitioned. Runs on the
    /// pair's event loop, inside the lock, so a partition that comes later always wins.
    private func adopt(_ inbound: (any Channel, Forwarder), _ outbound: (any Channel, Forwarder)) {
        let flowing = state.withLock { state -> Bool in
            if state.closed { return false }
            state.connections[ObjectIdentifier(inbound.0)] = inbound
            state.connections[ObjectIdentifier(outbound.0)] = outbound
            return !state.partitioned
        }
        let (inbound, outbound) = (inbound.0, outbound.0)
        for channel in [inbound, outbound] {
            channel.closeFuture.whenComplete { _ in
                // A side that closed during a partition stays listed: healing must still pass
                // its close on to the other side, as a real link delivers the FIN or RST late.
                self.state.withLock { state in
                    if !state.partitioned { state.connections.removeValue(forKey: ObjectIdentifier(channel)) }
                }
            }
            if flowing { channel.setOption(.autoRead, value: true).whenComplete { _ in } }
        }
        if !flowing, state.withLock({ $0.closed }) {
            inbound.close(promise: nil)
            outbound.close(promise: nil)
        }
    }

    /// Cuts the link: nothing crosses it until ``heal()``.
    func partition() { setFlowing(false) }

    /// Lets the link carry traffic again, queued bytes first.
    func heal() { setFlowing(true) }

    private let closesHeld = Atomic<Int>(0)

    /// How many closes a partition has held back so far (tests wait for one).
    var closesHeldBack: Int { closesHeld.load(ordering: .relaxed) }

    fileprivate func heldBackAClose() { closesHeld.add(1, ordering: .relaxed) }

    /// Whether the link is cut; read by the forwarders on their event loops.
    fileprivate var isPartitioned: Bool { gate.load(ordering: .acquiring) }

    private func setFlowing(_ flowing: Bool) {
        state.withLock { state in
            state.partitioned = !flowing
            gate.store(!flowing, ordering: .releasing)
            for (channel, forwarder) in state.connections.values {
                channel.setOption(.autoRead, value: flowing).whenComplete { _ in }
                if flowing { channel.eventLoop.execute { forwarder.releaseHeld() } }
            }
            if flowing { state.connections = state.connections.filter { $0.value.channel.isActive } }
        }
    }

    /// Stops listening and closes every connection (the worker behind it died).
    func close() async {
        let channels = state.withLock { state -> [any Channel] in
            state.closed = true
            defer { state.connections.removeAll() }
            return state.connections.values.map(\.channel)
        }
        try? await listener.close()
        for channel in channels { try? await channel.close() }
    }
}

/// Writes what one side of a proxied connection reads to the other, and closes the other when
/// this side closes or fails; while the link is partitioned, holds both back.
///
/// `held` and `closeHeld` are only touched on the channel's event loop.
private final class Forwarder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel
    private let proxy: TortureProxy
    private var held: [ByteBuffer] = []
    private var closeHeld = false

    init(partner: any Channel, proxy: TortureProxy) {
        self.partner = partner
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(unwrapInboundIn(data))
        if !proxy.isPartitioned { releaseHeld() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeHeld = true
        if proxy.isPartitioned { proxy.heldBackAClose() } else { releaseHeld() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Delivers what was held back, in order, and the close if one came.
    func releaseHeld() {
        if !held.isEmpty {
            for buffer in held { partner.write(buffer, promise: nil) }
            partner.flush()
            held.removeAll()
        }
        if closeHeld { partner.close(promise: nil) }
    }
}
