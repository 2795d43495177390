import Synchronization

/// The connection a client shares among its callers, made on first use and made again after it
/// drops, with failed attempts spaced by an exponential backoff. Concurrent callers share one
/// attempt. What "connect" means (one server, a master found through sentinels) is the
/// client's; the lifecycle is this type's, the same for every NIO client.
public final class ReconnectingLink<Connection: AnyObject & Sendable>: Sendable {
    /// The spacing of failed attempts: `initial`, doubled per failure, at most `maximum`.
    package struct Backoff: Sendable {
        package var initial: Duration
        package var maximum: Duration

        package init(initial: Duration, maximum: Duration) {
            self.initial = initial
            self.maximum = maximum
        }
    }

    @usableFromInline
    enum Link {
        case idle
        case connected(Connection)
        /// Someone is connecting; these callers wait for the outcome.
        case connecting([CheckedContinuation<Connection, any Error>])
        case closed
    }

    /// What a caller does next, decided under the lock.
    private enum Next {
        case use(Connection)
        case connect(after: ContinuousClock.Instant?)
        case wait
        case closed
    }

    @usableFromInline
    struct State {
        @usableFromInline var link: Link = .idle
        var failures = 0
        var nextAttempt: ContinuousClock.Instant?
    }

    @usableFromInline let state = Mutex(State())
    private let backoff: Backoff
    @usableFromInline let isActive: @Sendable (Connection) -> Bool
    private let closedError: @Sendable () -> any Error
    private let abandonedError: @Sendable () -> any Error

    /// - Parameters:
    ///   - isActive: whether a connection still works (a closed one is replaced).
    ///   - closedError: what callers get after ``close()``.
    ///   - abandonedError: what waiting callers get when the attempt they waited for was
    ///     cancelled by its own caller, or failed before they could join it.
    package init(
        backoff: Backoff,
        isActive: @escaping @Sendable (Connection) -> Bool,
        closedError: @escaping @Sendable () -> any Error,
        abandonedError: @escaping @Sendable () -> any Error
    ) {
        self.backoff = backoff
        self.isActive = isActive
        self.closedError = closedError
        self.abandonedError = abandonedError
    }

    /// The live connection, if there is one: the fast path of ``connection(connect:close:attemptFailed:)``,
    /// inlinable so that it is specialized for the caller's connection type instead of asking the
    /// runtime for the metadata of this type's state on every request.
    @inlinable
    public func connected() -> Connection? {
        state.withLock { state in
            guard case .connected(let connection) = state.link, isActive(connection) else { return nil }
            return connection
        }
    }

    /// The live connection, making one with `connect` when there is none.
    ///
    /// - Parameters:
    ///   - connect: makes a connection (called after the backoff, if the last attempt failed).
    ///   - close: closes a connection made while ``close()`` ran, so that none leaks.
    ///   - attemptFailed: told about each failed attempt (for a debug log).
    @inlinable
    public func connection(
        connect: () async throws -> Connection,
        close: (Connection) async -> Void,
        attemptFailed: (any Error) -> Void = { _ in }
    ) async throws -> Connection {
        if let connection = connected() { return connection }
        return try await connectOrWait(connect: connect, close: close, attemptFailed: attemptFailed)
    }

    /// ``connection(connect:close:attemptFailed:)`` when there was no live connection a moment
    /// ago: looks again under the lock, then connects, or waits for the attempt under way.
    @usableFromInline
    func connectOrWait(
        connect: () async throws -> Connection,
        close: (Connection) async -> Void,
        attemptFailed: (any Error) -> Void
    ) async throws -> Connection {
        let next = state.withLock { state -> Next in
            switch state.link {
            case .connected(let connection) where isActive(connection):
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
            throw closedError()
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<Connection, any Error>? = state.withLock { state in
                    switch state.link {
                    case .connecting(var waiters):
                        waiters.append(continuation)
                        state.link = .connecting(waiters)
                        return nil
                    case .connected(let connection): return .success(connection)
                    case .idle: return .failure(abandonedError())
                    case .closed: return .failure(closedError())
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        case .connect(let after):
            let outcome: Result<Connection, any Error>
            do {
                if let after, after > .now { try await Task.sleep(until: after, clock: .continuous) }
                outcome = .success(try await connect())
            } catch {
                outcome = .failure(error)
            }
            if case .failure(let error) = outcome { attemptFailed(error) }
            let (result, orphan) = finish(outcome)
            // close() ran while we were connecting: do not leak the new connection.
            if let orphan { await close(orphan) }
            return try result.get()
        }
    }

    /// Marks the link closed (later callers get `closedError`), fails the waiters, and returns
    /// the connection the caller must close.
    package func close() -> Connection? {
        let (connection, waiters) = state.withLock { state -> (Connection?, [CheckedContinuation<Connection, any Error>]) in
            defer { state.link = .closed }
            switch state.link {
            case .connected(let connection): return (connection, [])
            case .connecting(let waiters): return (nil, waiters)
            case .idle, .closed: return (nil, [])
            }
        }
        for waiter in waiters { waiter.resume(throwing: closedError()) }
        return connection
    }

    /// Forgets `connection` if it is still the current one, so that the next caller reconnects.
    /// Returns whether it was.
    @discardableResult
    package func drop(_ connection: Connection) -> Bool {
        state.withLock { state -> Bool in
            guard case .connected(let current) = state.link, current === connection else { return false }
            state.link = .idle
            return true
        }
    }

    /// Publishes an attempt's outcome to the waiters and the state. Returns a connection to
    /// close when the link was closed meanwhile.
    private func finish(_ outcome: Result<Connection, any Error>) -> (Result<Connection, any Error>, orphan: Connection?) {
        let (waiters, closedMeanwhile) = state.withLock { state -> ([CheckedContinuation<Connection, any Error>], Bool) in
            guard case .connecting(let waiters) = state.link else { return ([], true) }
            switch outcome {
            case .success(let connection):
                state.link = .connected(connection)
                state.failures = 0
                state.nextAttempt = nil
            case .failure:
                state.link = .idle
                state.failures += 1
                let delay = min(backoff.initial * (1 << min(state.failures - 1, 20)), backoff.maximum)
                state.nextAttempt = .now + delay
            }
            return (waiters, false)
        }
        if closedMeanwhile {
            if case .failure = outcome { return (outcome, nil) }
            return (.failure(closedError()), try? outcome.get())
        }
        // The connecting task's own cancellation is not the waiters': they get a plain failure.
        let forWaiters: Result<Connection, any Error> =
            if case .failure(let error) = outcome, error is CancellationError { .failure(abandonedError()) } else { outcome }
        for waiter in waiters { waiter.resume(with: forWaiters) }
        return (outcome, nil)
    }
}
