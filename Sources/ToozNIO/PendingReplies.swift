import Synchronization

/// The replies one caller waits for: a single request or a pipeline, answered in order. Shared
/// by the NIO clients (redis, memcached), whose connections answer requests in order.
///
/// It is completed from the event loop and cancelled from whatever thread cancels the waiting
/// task, so its state sits behind a lock and each outcome resumes the continuation exactly once.
/// That lock is what makes the unchecked continuation safe; a checked one would allocate a
/// canary per request, and its resilient layout would send every copy of the state through
/// the runtime.
/// A cancelled wait leaves its slots queued in the connection; replies that arrive for them later
/// are dropped here.
///
/// Public and inlinable so that each client specializes it for its own reply type: an
/// unspecialized generic class asks the runtime for the metadata of its lock, array and
/// continuation types on every request (seen as several percent of a round trip's CPU).
public final class PendingReplies<Value: Sendable>: Sendable {
    @usableFromInline
    enum Phase: Sendable {
        /// Not waited on yet.
        case initial
        /// The caller waits.
        case waiting(UnsafeContinuation<[Value], any Error>)
        /// Cancelled before the caller started waiting.
        case cancelled
        /// The continuation was resumed (or never will be needed).
        case done
    }

    @usableFromInline
    struct State {
        @usableFromInline var phase: Phase = .initial
        @usableFromInline var values: [Value] = []

        @inlinable init() {}
    }

    @usableFromInline let state: Mutex<State>
    /// How many replies complete the wait.
    public let count: Int

    /// A wait for `count` replies (at least one).
    @inlinable
    public init(count: Int) {
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
    @inlinable
    public func wait(start: () -> Void) async throws -> [Value] {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[Value], any Error>) in
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
    @inlinable
    public func succeed(_ value: Value, at index: Int) {
        let completed = self.state.withLock { state -> (UnsafeContinuation<[Value], any Error>, [Value])? in
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
    @inlinable
    public func fail(_ error: any Error) {
        self.resume(with: .failure(error), ifInitial: .done)
    }

    @usableFromInline
    func resume(with result: Result<[Value], any Error>, ifInitial: Phase) {
        let continuation = self.state.withLock { state -> UnsafeContinuation<[Value], any Error>? in
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

/// One request's place in a ``PendingReplies``: what a connection state machine keeps per slot.
public struct ReplySlot<Value: Sendable>: Sendable {
    /// The wait this request's reply belongs to.
    public let replies: PendingReplies<Value>
    /// The reply's position among that wait's replies.
    public let index: Int

    /// The slot of the reply at `index` of `replies`.
    @inlinable
    public init(replies: PendingReplies<Value>, index: Int) {
        self.replies = replies
        self.index = index
    }
}
