import Dispatch
import Synchronization

/// One continuation, resumed by whichever comes first of several parties (a blocked call's
/// result, cancellation, an in-process release); the later ones are ignored.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Value?, Never>)
        case finished(Value?)
    }

    private let state = Mutex<State>(.idle)

    init() {}

    /// Stores `continuation`. Returns `false` when the gate was opened already; the
    /// continuation has then been resumed with that value and no work must start.
    func install(_ continuation: CheckedContinuation<Value?, Never>) -> Bool {
        let early = state.withLock { state -> Value?? in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return .none
            case .finished(let value):
                return .some(value)
            case .waiting:
                preconditionFailure("a OneShot holds one continuation")
            }
        }
        guard let early else { return true }
        continuation.resume(returning: early)
        return false
    }

    /// Resumes the stored continuation with `value`, unless the gate was opened already. Before
    /// ``install(_:)``, keeps `value` for `install` to resume with at once.
    func resume(with value: Value?) {
        let continuation = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            switch state {
            case .idle:
                state = .finished(value)
                return nil
            case .waiting(let continuation):
                state = .finished(nil)
                return continuation
            case .finished:
                return nil
            }
        }
        continuation?.resume(returning: value)
    }
}

extension OneShot {
    /// Waits until someone opens the gate, or `timeout` passes (then `fallback`), or the task is
    /// cancelled (then `nil`, at once). No thread sleeps: the timeout is a Dispatch timer, which
    /// finds the gate already open when something else came first.
    func wait(upTo timeout: Duration, orElse fallback: Value) async -> Value? {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                guard install(continuation) else { return }
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                    self.resume(with: fallback)
                }
            }
        } onCancel: {
            resume(with: nil)
        }
    }
}
