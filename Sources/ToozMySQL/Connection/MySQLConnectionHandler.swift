import Logging
import NIOCore
import NIOSSL
import ToozNIO

/// The channel handler of a MySQL connection: it writes commands, takes the packets that
/// `ByteToMessageHandler(MySQLPacketDecoder)` decodes, and carries out what
/// ``MySQLConnectionStateMachine`` decides.
///
/// It is the last handler of the pipeline and lives on the channel's event loop;
/// ``MySQLConnection`` reaches it through `NIOLoopBound`. When the login asks for TLS, the
/// `NIOSSLClientHandler` goes first in the pipeline, right after the SSLRequest was flushed.
final class MySQLConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = MySQLPacket
    typealias OutboundOut = ByteBuffer

    typealias Answer = FirstOutcome<[MySQLResult]>
    typealias StateMachine = MySQLConnectionStateMachine<Answer>

    private var stateMachine: StateMachine
    private var context: ChannelHandlerContext?
    private let tls: MySQLTLSConfiguration.ClientSettings?
    private let login: FirstOutcome<MySQLHandshake>
    private let logger: Logger

    init(
        settings: StateMachine.Settings,
        tls: MySQLTLSConfiguration.ClientSettings?,
        login: FirstOutcome<MySQLHandshake>,
        logger: Logger
    ) {
        var settings = settings
        if tls == nil { settings.tlsMode = .disabled }
        self.stateMachine = StateMachine(settings: settings)
        self.tls = tls
        self.login = login
        self.logger = logger
    }

    // MARK: - Commands

    /// Writes `command`; its reply (or failure) completes `answer`.
    func send(_ command: StateMachine.Command, answer: Answer) {
        guard let context = self.context else {
            answer.finish(.failure(MySQLConnectionError.notSent(nil)))
            return
        }
        switch self.stateMachine.send(command, slot: answer) {
        case .write(let bytes):
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
        case .fail(let error):
            answer.finish(.failure(error))
        }
    }

    /// Sends `COM_QUIT` (when logged in), then closes the channel.
    func quitAndClose() {
        guard let context = self.context else { return }
        guard let quit = self.stateMachine.quit() else {
            context.close(promise: nil)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(quit), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.execute(self.stateMachine.channelInactive(), context: context)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.execute(self.stateMachine.receive(self.unwrapInboundIn(data)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.execute(self.stateMachine.channelInactive(), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("MySQL connection failed; closing", metadata: ["mysql.error": "\(error)"])
        self.execute(self.stateMachine.errorCaught(error), context: context)
    }

    // MARK: - Carrying out actions

    private func execute(_ action: StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .write(let bytes):
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
        case .writeSSLRequestThenStartTLS(let sslRequest, let handshakeResponse):
            guard let tls = self.tls else {
                // The state machine asks for TLS only when it is configured.
                self.execute(self.stateMachine.errorCaught(MySQLAuthenticationError("TLS is not configured")), context: context)
                return
            }
            // Flushed before the TLS handler exists, so these bytes go out in clear.
            context.writeAndFlush(self.wrapOutboundOut(sslRequest), promise: nil)
            do {
                let sslHandler = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname)
                try context.pipeline.syncOperations.addHandler(sslHandler, position: .first)
            } catch {
                self.execute(self.stateMachine.errorCaught(error), context: context)
                return
            }
            // Held by the TLS handler until its handshake is done.
            context.writeAndFlush(self.wrapOutboundOut(handshakeResponse), promise: nil)
        case .connected(let handshake):
            self.logger.debug(
                "MySQL login done",
                metadata: ["mysql.connection_id": "\(handshake.connectionID)", "mysql.server_version": "\(handshake.serverVersion)"]
            )
            self.login.finish(.success(handshake))
        case .succeed(let answer, let results):
            answer.finish(.success(results))
        case .fail(let answer, let error):
            answer.finish(.failure(error))
        case .failAndClose(let connect, let commands):
            if let connect { self.login.finish(.failure(connect)) }
            for failure in commands {
                failure.slot.finish(.failure(failure.error))
            }
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension MySQLConnectionHandler: Sendable {}
