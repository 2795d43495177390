import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz

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
    private let state = Mutex(State())
    private let closeHandler = Mutex<(@Sendable () -> Void)?>(nil)

    private struct State {
        enum Link {
            case idle
            case connected(MemcachedConnection)
            /// Someone is connecting; these callers wait for the outcome.
            case connecting([CheckedContinuation<MemcachedConnection, any Error>])
            case closed
        }
        var link: Link = .idle
        var failures = 0
        var nextAttempt: ContinuousClock.Instant?
    }

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
        self.target = "memcached at \(configuration.endpoint)"
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
        let (connection, waiters) = self.state.withLock { state -> (MemcachedConnection?, [CheckedContinuation<MemcachedConnection, any Error>]) in
            defer { state.link = .closed }
            switch state.link {
            case .connected(let connection): return (connection, [])
            case .connecting(let waiters): return (nil, waiters)
            case .idle, .closed: return (nil, [])
            }
        }
        for waiter in waiters { waiter.resume(throwing: self.closedError) }
        await connection?.close()
    }

    private var closedError: ToozError { ToozError(.notRunning, "the connection to \(self.target) was closed") }

    /// The live connection, making one when there is none. Concurrent callers share one attempt.
    private func connection() async throws -> MemcachedConnection {
        enum Next {
            case use(MemcachedConnection)
            case connect(after: ContinuousClock.Instant?)
            case wait
            case closed
        }
        let next = self.state.withLock { state -> Next in
            switch state.link {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connected, .idle:
                state.link = .connecting([])
                return .connect(after: state.nextAttempt)
            case .connecting:
                return .wait
            case .closed:
                return .closed
            }
        }
        switch next {
        case .use(let connection):
            return connection
        case .closed:
            throw self.closedError
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<MemcachedConnection, any Error>? = self.state.withLock { state in
                    switch state.link {
                    case .connecting(var waiters):
                        waiters.append(continuation)
                        state.link = .connecting(waiters)
                        return nil
                    case .connected(let connection):
                        return .success(connection)
                    case .idle:
                        return .failure(ToozError(.connectionFailed, "could not connect to \(self.target)"))
                    case .closed:
                        return .failure(self.closedError)
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        case .connect(let after):
            let outcome: Result<MemcachedConnection, any Error>
            do {
                if let after, after > .now { try await Task.sleep(until: after, clock: .continuous) }
                outcome = .success(
                    try await MemcachedConnection.connect(
                        configuration: self.configuration,
                        eventLoopGroup: self.eventLoop,
                        logger: self.logger,
                        onClose: { [weak self] in self?.connectionClosed() }
                    )
                )
            } catch {
                outcome = .failure(error)
            }
            let (result, orphan) = self.finish(outcome)
            // close() ran while we were connecting: do not leak the new connection.
            await orphan?.close()
            return try result.get()
        }
    }

    /// Publishes the outcome of a connection attempt to the waiters and the state. Returns a
    /// connection to close when the client was closed meanwhile.
    private func finish(
        _ outcome: Result<MemcachedConnection, any Error>
    ) -> (Result<MemcachedConnection, any Error>, orphan: MemcachedConnection?) {
        let (waiters, closedMeanwhile) = self.state.withLock { state -> ([CheckedContinuation<MemcachedConnection, any Error>], Bool) in
            guard case .connecting(let waiters) = state.link else { return ([], true) }
            switch outcome {
            case .success(let connection):
                state.link = .connected(connection)
                state.failures = 0
                state.nextAttempt = nil
            case .failure:
                state.link = .idle
                state.failures += 1
                let delay = min(
                    self.configuration.reconnectInitialDelay * (1 << min(state.failures - 1, 20)),
                    self.configuration.reconnectMaximumDelay
                )
                state.nextAttempt = .now + delay
            }
            return (waiters, false)
        }
        if closedMeanwhile {
            if case .failure = outcome { return (outcome, nil) }
            return (.failure(self.closedError), try? outcome.get())
        }
        if case .failure(let error) = outcome {
            self.logger.debug("memcached connection attempt failed", metadata: ["memcached.error": "\(error)"])
        }
        // The connecting task's own cancellation is not the waiters': they get a plain failure.
        let forWaiters: Result<MemcachedConnection, any Error> =
            if case .failure(let error) = outcome, error is CancellationError {
                .failure(ToozError(.connectionFailed, "the attempt to connect to \(self.target) was abandoned; try again"))
            } else {
                outcome
            }
        for waiter in waiters { waiter.resume(with: forWaiters) }
        return (outcome, nil)
    }
}
