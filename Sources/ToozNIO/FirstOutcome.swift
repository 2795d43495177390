import Synchronization

/// The outcome of one request (a login, a statement), given once by whichever comes first: the
/// server's answer, the caller's timeout, or the caller's cancellation. Later ones are ignored,
/// which is how the reply of an abandoned request is read and dropped.
///
/// Public and inlinable, with an unchecked continuation (resumed once, under the lock), for the
/// reasons ``PendingReplies`` gives.
public final class FirstOutcome<Value: Sendable>: Sendable {
    @usableFromInline
    struct State {
        @usableFromInline var waiter: UnsafeContinuation<Value, any Error>?
        @usableFromInline var outcome: Result<Value, any Error>?

        @inlinable init() {}
    }

    @usableFromInline let state = Mutex(State())

    /// An outcome not given yet.
    @inlinable
    public init() {}

    /// Waits for the first outcome (at once if it has come).
    @inlinable
    public func value() async throws -> Value {
        try await withUnsafeThrowingContinuation { continuation in
            let ready = self.state.withLock { state -> Result<Value, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Gives the outcome, if none was given yet; returns whether this one was the first.
    @inlinable @discardableResult
    public func finish(_ outcome: Result<Value, any Error>) -> Bool {
        let (first, waiter) = self.state.withLock { state -> (Bool, UnsafeContinuation<Value, any Error>?) in
            guard state.outcome == nil else { return (false, nil) }
            state.outcome = outcome
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(with: outcome)
        return first
    }

    /// Whether an outcome was given.
    @inlinable
    public var isFinished: Bool { self.state.withLock { $0.outcome != nil } }
}
