import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// One logical connection to a memcached server that survives failures: it connects on first
/// use, reconnects after the connection drops, and spaces failed attempts with an exponential
/// backoff.
///
/// Requests share one pipelined ``MemcachedConnection``, always on the same event loop
/// (``eventLoop``), so that a backend can run its tasks there. A request whose connection fails
/// is not retried here: the caller gets the error and decides, because a retried `ms` or `ma`
/// may already have been applied.
///
/// ```swift
/// let client = MemcachedClient(configuration: MemcachedConnectionConfiguration(host: "127.0.0.1"), logger: logger)
/// try await client.connect()
/// let reply = try await client.send(try .get("key"))
/// await client.close()
/// ```
package final class MemcachedClient: Sendable {
    package let configuration: MemcachedConnectionConfiguration
    /// The loop every connection of this client runs on.
    package let eventLoop: any EventLoop
    private let currentLogger: Mutex<Logger>
    private var logger: Logger { self.currentLogger.withLock { $0 } }
    private let link: ReconnectingLink<MemcachedConnection>
    private let closeHandler = Mutex<(@Sendable () -> Void)?>(nil)

    /// Makes a client; nothing is connected until ``connect()`` or the first request.
    ///
    /// - Parameter eventLoopGroup: one of its loops is picked now and used for every connection.
    package init(
        configuration: MemcachedConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoopGroup.next()
        self.currentLogger = Mutex(logger)
        let target = "memcached at \(configuration.endpoint)"
        self.target = target
        self.link = ReconnectingLink(
            backoff: .init(initial: configuration.reconnectInitialDelay, maximum: configuration.reconnectMaximumDelay),
            isActive: { $0.isActive },
            closedError: { ToozError(.notRunning, "the connection to \(target) was closed") },
            abandonedError: { ToozError(.connectionFailed, "the attempt to connect to \(target) failed or was abandoned; try again") }
        )
    }

    /// Where the client connects, for messages: `memcached at host:port`.
    package let target: String

    /// Calls `handler` (on the event loop) whenever an established connection closes, by the
    /// server, an error or a timeout: whatever depends on it is in doubt until the next request
    /// reconnects. It must not block.
    package func onConnectionClosed(_ handler: @escaping @Sendable () -> Void) {
        self.closeHandler.withLock { $0 = handler }
    }

    private func connectionClosed() {
        self.closeHandler.withLock { $0 }?()
    }

    /// Logs to `logger` from now on (the coordinator's, handed over when it connects).
    package func use(logger: Logger) {
        self.currentLogger.withLock { $0 = logger }
    }

    // MARK: - Requests

    /// Sends one request and returns its reply, connecting first if needed.
    ///
    /// - Throws: `backendError` when the server answers with an error line or garbage,
    ///   `timedOut` when the reply does not come in time, `connectionFailed` when the server
    ///   cannot be reached or the connection breaks, `notRunning` after ``close()``.
    package func send(_ request: MemcachedRequest) async throws -> MemcachedResponse {
        try await self.connection().send(request)
    }

    /// Sends `requests` in one write and returns their replies in order; one failure fails all.
    package func send(_ requests: [MemcachedRequest]) async throws -> [MemcachedResponse] {
        guard !requests.isEmpty else { return [] }
        return try await self.connection().send(requests)
    }

    // MARK: - Connection management

    /// Opens the first connection now, so that a bad address or a server that is not memcached
    /// shows at once.
    package func connect() async throws {
        _ = try await self.connection()
    }

    /// Closes the connection; later requests fail with `notRunning`.
    package func close() async {
        await self.link.close()?.close()
    }

    /// The live connection, making one when there is none. Concurrent callers share one attempt.
    private func connection() async throws -> MemcachedConnection {
        try await self.link.connection(
            connect: {
                try await MemcachedConnection.connect(
                    configuration: self.configuration,
                    eventLoopGroup: self.eventLoop,
                    logger: self.logger,
                    onClose: { [weak self] in self?.connectionClosed() }
                )
            },
            close: { await $0.close() },
            attemptFailed: { self.logger.debug("memcached connection attempt failed", metadata: ["memcached.error": "\($0)"]) }
        )
    }
}
