import Synchronization

/// The replies one caller waits for: a single command or a pipeline, answered in order.
///
/// It is completed from the event loop and cancelled from whatever thread cancels the waiting
/// task, so its state sits behind a lock and each outcome resumes the continuation exactly once.
/// A cancelled wait leaves its slots queued in the connection; replies that arrive for them later
/// are dropped here.
final class MemcachedPendingReplies: Sendable {
    private enum Phase {
        /// Not waited on yet.
        case initial
        /// The caller waits.
        case waiting(CheckedContinuation<[MemcachedResponse], any Error>)
        /// Cancelled before the caller started waiting.
        case cancelled
        /// The continuation was resumed (or never will be needed).
        case done
    }

    private struct State {
        var phase: Phase = .initial
        var values: [MemcachedResponse] = []
    }

    private let state: Mutex<State>
    /// How many replies complete the wait.
    let count: Int

    init(count: Int) {
        precondition(count > 0, "nothing to wait for")
        self.count = count
        var state = State()
        state.values.reserveCapacity(count)
        self.state = Mutex(state)
    }

    /// Calls `start` (which sends the requests) and waits until every reply arrived or one failed.
    ///
    /// - Throws: the failure passed to ``fail(_:)``, or `CancellationError` when the task is
    ///   cancelled first (then `start` may not have been called at all).
    func wait(start: () -> Void) async throws -> [MemcachedResponse] {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[MemcachedResponse], any Error>) in
                let cancelled = self.state.withLock { state -> Bool in
                    guard case .initial = state.phase else { return true }
                    state.phase = .waiting(continuation)
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    start()
                }
            }
        } onCancel: {
            self.resume(with: .failure(CancellationError()), ifInitial: .cancelled)
        }
    }

    /// Records the reply at `index`; the last one resumes the caller.
    func succeed(_ value: MemcachedResponse, at index: Int) {
        let completed = self.state.withLock { state -> (CheckedContinuation<[MemcachedResponse], any Error>, [MemcachedResponse])? in
            guard case .waiting(let continuation) = state.phase else { return nil }
            assert(index == state.values.count, "replies out of order: \(index) after \(state.values.count)")
            state.values.append(value)
            guard state.values.count == self.count else { return nil }
            state.phase = .done
            defer { state.values = [] }
            return (continuation, state.values)
        }
        guard let (continuation, values) = completed else { return }
        continuation.resume(returning: values)
    }

    /// Fails the wait; later replies are dropped.
    func fail(_ error: any Error) {
        self.resume(with: .failure(error), ifInitial: .done)
    }

    private func resume(with result: Result<[MemcachedResponse], any Error>, ifInitial: Phase) {
        let continuation = self.state.withLock { state -> CheckedContinuation<[MemcachedResponse], any Error>? in
            switch state.phase {
            case .initial:
                state.phase = ifInitial
                return nil
            case .waiting(let continuation):
                state.phase = .done
                state.values = []
                return continuation
            case .cancelled, .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

/// One request's place in a ``MemcachedPendingReplies``: what the state machine keeps per slot.
struct MemcachedReplySlot {
    let replies: MemcachedPendingReplies
    let index: Int
}
