import Synchronization

/// The outcome of one login or command, given once by whichever comes first: the server's
/// answer, the caller's timeout, or the caller's cancellation. Later ones are ignored, which is
/// how the reply of an abandoned command is read and dropped.
package final class MySQLConnectionAnswer<Value: Sendable>: Sendable {
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

    /// Gives the outcome, if none was given yet.
    package func finish(_ outcome: Result<Value, any Error>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: outcome)
    }

    /// Whether an outcome was given.
    package var isFinished: Bool { self.state.withLock { $0.outcome != nil } }
}
