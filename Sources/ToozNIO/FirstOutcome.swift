import Synchronization

/// The outcome of one request (a login, a statement), given once by whichever comes first: the
/// server's answer, the caller's timeout, or the caller's cancellation. Later ones are ignored,
/// which is how the reply of an abandoned request is read and dropped.
package final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Value, any Error>?
        var outcome: Result<Value, any Error>?
    }

    private let state = Mutex(State())

    package init() {}

    /// Waits for the first outcome (at once if it has come).
    package func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = self.state.withLock { state -> Result<Value, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Gives the outcome, if none was given yet; returns whether this one was the first.
    @discardableResult
    package func finish(_ outcome: Result<Value, any Error>) -> Bool {
        let (first, waiter) = self.state.withLock { state -> (Bool, CheckedContinuation<Value, any Error>?) in
            guard state.outcome == nil else { return (false, nil) }
            state.outcome = outcome
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(with: outcome)
        return first
    }

    /// Whether an outcome was given.
    package var isFinished: Bool { self.state.withLock { $0.outcome != nil } }
}
