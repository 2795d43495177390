import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Tooz
import ToozNIO

/// What a cancelled caller does to its statement.
package enum MySQLCancelPolicy: Sendable, Hashable {
    /// Close the connection: the statement fails at once and whatever the session held on the
    /// server (`GET_LOCK` locks, a lock wait, an open transaction) ends with it. For a
    /// connection of one caller.
    case closeConnection
    /// Leave the statement to finish (its timeout still bounds it) and return at once; its reply
    /// is read and dropped. For a connection that other callers share.
    case abandonStatement
}

/// One logged-in connection to a MySQL or MariaDB server, over TCP (optionally TLS) or a unix
/// socket. Commands from many tasks may be in flight at once: they are pipelined and their
/// replies matched in order.
///
/// A thin async shell around a channel whose last handler is ``MySQLConnectionHandler``. Every
/// failure is a `ToozError` whose message says what the caller was doing, never the password.
///
/// ```swift
/// let connection = try await MySQLConnection.connect(configuration, eventLoop: loop, logger: logger)
/// let results = try await connection.query("SELECT GET_LOCK('x', 0)", timeout: .seconds(5), doing: "take the lock x")
/// await connection.close()
/// ```
package final class MySQLConnection: Sendable {
    /// The session's thread id, as `CONNECTION_ID()` returns it.
    package let connectionID: UInt32
    /// The server's version string (`10.11.6-MariaDB`, `8.0.36`).
    package let serverVersion: String

    private let channel: any Channel
    private let handler: NIOLoopBound<MySQLConnectionHandler>
    private let logger: Logger

    private init(
        connectionID: UInt32,
        serverVersion: String,
        channel: any Channel,
        handler: NIOLoopBound<MySQLConnectionHandler>,
        logger: Logger
    ) {
        self.connectionID = connectionID
        self.serverVersion = serverVersion
        self.channel = channel
        self.handler = handler
        self.logger = logger
    }

    deinit {
        // A connection dropped without close() must not keep its socket (and its session) open.
        self.channel.close(promise: nil)
    }

    /// Whether the connection is closed; a closed connection fails every command at once.
    package var isClosed: Bool { !self.channel.isActive }

    /// Completed when the channel has closed, for whatever reason.
    package var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    /// The event loop the connection's channel runs on.
    package var eventLoop: any EventLoop { self.channel.eventLoop }

    // MARK: - Connecting

    /// Connects and logs in: TCP (with `TCP_NODELAY`) or a unix socket, TLS if configured and
    /// available, authentication (`mysql_native_password`, `caching_sha2_password`,
    /// `mysql_clear_password` over TLS or a unix socket), and the default database.
    ///
    /// The whole of it is bounded by ``MySQLConnectionConfiguration/connectTimeout``.
    ///
    /// - Throws: `ToozError` `connectionFailed` ("could not connect to MySQL as
    ///   user@host:port/db: reason", the reason with the server's message, error code and
    ///   SQLSTATE when it refused: `MySQLServerError.of(error)` finds it); `invalidConfiguration`
    ///   when a TLS file cannot be used; `CancellationError` when the task is cancelled (the
    ///   channel is then closed).
    package static func connect(
        _ configuration: MySQLConnectionConfiguration,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws -> MySQLConnection {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.connectTimeout
        var logger = logger
        logger[metadataKey: "mysql.server"] = "\(configuration.endpoint)"
        let handlerLogger = logger
        func failure(_ reason: String, underlying: (any Error)? = nil) -> ToozError {
            ToozError(.connectionFailed, "could not connect to MySQL as \(configuration): \(reason)", underlying: underlying)
        }

        var tls: MySQLTLSConfiguration.ClientSettings?
        if case .tcp(let host, _) = configuration.endpoint, configuration.tls.mode != .disabled {
            tls = try configuration.tls.clientSettings(host: host, server: configuration.description)
        }
        let settings = MySQLConnectionHandler.StateMachine.Settings(
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tlsMode: configuration.tls.mode,
            isUnixSocket: configuration.isUnixSocket
        )
        let login = FirstOutcome<MySQLHandshake>()
        let clientSettings = tls
        let initializer: @Sendable (any Channel) -> EventLoopFuture<(any Channel, NIOLoopBound<MySQLConnectionHandler>)> = { channel in
            channel.eventLoop.makeCompletedFuture {
                let handler = MySQLConnectionHandler(settings: settings, tls: clientSettings, login: login, logger: handlerLogger)
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MySQLPacketDecoder()))
                try channel.pipeline.syncOperations.addHandler(handler)
                return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        }

        let channel: any Channel
        let handler: NIOLoopBound<MySQLConnectionHandler>
        do {
            var bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(TimeAmount(configuration.connectTimeout))
            switch configuration.endpoint {
            case .tcp(let host, let port):
                // Commands are small and each waits for its reply: Nagle would only add latency.
                bootstrap = bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                (channel, handler) = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            case .unixSocket(let path):
                (channel, handler) = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            }
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            throw failure("\(error)", underlying: error)
        }

        let remaining = max(deadline - clock.now, .zero)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(remaining)) {
            if login.finish(.failure(LoginExpired())) { channel.close(promise: nil) }
        }
        defer { timer.cancel() }
        let handshake: MySQLHandshake
        do {
            handshake = try await withTaskCancellationHandler {
                try await login.value()
            } onCancel: {
                login.finish(.failure(CancellationError()))
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            logger.debug("MySQL login failed", metadata: ["mysql.error": "\(error)"])
            switch error {
            case is CancellationError:
                throw CancellationError()
            case is LoginExpired:
                throw failure("no login within \(configuration.connectTimeout)")
            case let error as MySQLConnectionError:
                if case .server(let server) = error { throw failure("\(server)", underlying: server) }
                throw failure("\(error)", underlying: error)
            default:
                throw failure("\(error)", underlying: error)
            }
        }
        logger[metadataKey: "mysql.connection_id"] = "\(handshake.connectionID)"
        logger.debug("MySQL connection established", metadata: ["mysql.server_version": "\(handshake.serverVersion)"])
        return MySQLConnection(
            connectionID: handshake.connectionID,
            serverVersion: handshake.serverVersion,
            channel: channel,
            handler: handler,
            logger: logger
        )
    }

    private struct LoginExpired: Error {}

    // MARK: - Commands

    /// Runs `sql` (one statement or several, separated by `;`) with `COM_QUERY` and returns
    /// every result, in order, bounded by `timeout`.
    ///
    /// The server cannot be interrupted through this connection: a command that outlives
    /// `timeout` (a frozen server, a half-open connection) closes the connection, and a
    /// cancelled caller does what `onCancel` says. Either way the caller returns at once.
    ///
    /// - Throws: `ToozError` `timedOut` after `timeout` (the connection was closed) or when the
    ///   server says a wait ran out (errors 1205, 1969, 3024); `backendError` when the server
    ///   refused (an ERR; the connection stays usable; `MySQLServerError.of(error)` has the
    ///   code) or sent a garbled reply (the connection was closed); `connectionFailed` when the
    ///   connection is or becomes closed. `CancellationError` when the task is cancelled.
    package func query(
        _ sql: String,
        timeout: Duration,
        doing what: @autoclosure () -> String,
        onCancel: MySQLCancelPolicy = .closeConnection
    ) async throws -> [MySQLResult] {
        try await self.run(.query(sql), timeout: timeout, doing: what, onCancel: onCancel)
    }

    /// Sends `COM_PING` and waits for its OK, bounded by `timeout` (after which the connection
    /// is closed). A cancelled ping leaves the connection open.
    ///
    /// - Throws: like ``query(_:timeout:doing:onCancel:)``.
    package func ping(timeout: Duration) async throws {
        _ = try await self.run(.ping, timeout: timeout, doing: { "ping the server" }, onCancel: .abandonStatement)
    }

    /// Sends `COM_QUIT` and closes the connection, then waits until the channel is gone.
    /// Commands in flight fail with `connectionFailed`. Calling it again does nothing.
    package func close() async {
        let handler = self.handler
        let loop = self.channel.eventLoop
        if loop.inEventLoop {
            handler.value.quitAndClose()
        } else {
            loop.execute { handler.value.quitAndClose() }
        }
        try? await self.channel.closeFuture.get()
        self.logger.debug("MySQL connection closed")
    }

    /// Closes the connection without waiting (from a callback, a `defer`, a cancellation).
    package func closeNow() {
        self.channel.close(promise: nil)
    }

    private func run(
        _ command: MySQLConnectionHandler.StateMachine.Command,
        timeout: Duration,
        // Only an error reads it: the text of a lock's key costs time on every statement.
        doing what: () -> String,
        onCancel: MySQLCancelPolicy
    ) async throws -> [MySQLResult] {
        guard !self.isClosed else {
            throw ToozError(.connectionFailed, "the MySQL connection was lost before trying to \(what())")
        }
        let answer = MySQLConnectionHandler.Answer()
        let handler = self.handler
        let channel = self.channel
        if channel.eventLoop.inEventLoop {
            handler.value.send(command, answer: answer)
        } else {
            channel.eventLoop.execute { handler.value.send(command, answer: answer) }
        }
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            // An answer that came first (a starved caller has not read it yet) keeps the
            // connection: closing it then would end a session that did nothing wrong.
            if answer.finish(.failure(CommandExpired())) { channel.close(promise: nil) }
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await answer.value()
            } onCancel: {
                answer.finish(.failure(CancellationError()))
                if case .closeConnection = onCancel { channel.close(promise: nil) }
            }
        } catch is CommandExpired {
            self.logger.debug("MySQL command timed out; connection closed", metadata: ["mysql.doing": "\(what())"])
            throw ToozError(.timedOut, "MySQL did not answer within \(timeout) while trying to \(what()); the connection was closed")
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as MySQLConnectionError {
            throw Self.commandFailure(error, doing: what())
        }
    }

    private struct CommandExpired: Error {}

    /// A failed command, as a `ToozError` saying what the caller was doing.
    package static func commandFailure(_ error: MySQLConnectionError, doing what: String) -> ToozError {
        switch error {
        case .server(let server):
            return ToozError(server.isTimeout ? .timedOut : .backendError, "MySQL refused to \(what): \(server)", underlying: server)
        case .garbled(let decoding):
            return ToozError(
                .backendError,
                "MySQL sent a garbled reply while trying to \(what): \(decoding.message); the connection was closed",
                underlying: decoding
            )
        case .unsupported(let message):
            return ToozError(.backendError, "could not \(what) on MySQL: \(message)", underlying: error)
        case .connectionLost(let cause):
            return ToozError(.connectionFailed, "the MySQL connection was lost while trying to \(what)", underlying: cause)
        case .notSent(let cause):
            return ToozError(.connectionFailed, "the MySQL connection was lost before trying to \(what)", underlying: cause)
        }
    }
}
