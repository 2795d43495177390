import Synchronization

/// A value made on first use and again after it was reset (a long-lived stream, the session
/// lease); concurrent first users share one making.
final class EtcdLazy<Value: Sendable>: Sendable {
    private enum State {
        case closed
        case opening([CheckedContinuation<Value, any Error>])
        case open(Value)
    }

    private let state = Mutex(State.closed)

    /// The value, if it is made.
    var current: Value? {
        state.withLock {
            if case .open(let stream) = $0 { return stream }
            return nil
        }
    }

    private enum Next {
        case use(Value)
        case open
        case wait
    }

    /// The value, made with `make` when there is none.
    func value(make open: () async throws -> Value) async throws -> Value {
        let next = state.withLock { state -> Next in
            switch state {
            case .open(let stream): return .use(stream)
            case .opening: return .wait
            case .closed:
                state = .opening([])
                return .open
            }
        }
        switch next {
        case .use(let stream):
            return stream
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let ready: Result<Value, any Error>? = state.withLock { state in
                    switch state {
                    case .opening(var waiting):
                        waiting.append(continuation)
                        state = .opening(waiting)
                        return nil
                    case .open(let stream): return .success(stream)
                    case .closed: return .failure(GRPCStatus(.unavailable, "it could not be made"))
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        case .open:
            let outcome: Result<Value, any Error>
            do { outcome = .success(try await open()) } catch { outcome = .failure(error) }
            let waiting = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
                let waiting: [CheckedContinuation<Value, any Error>]
                if case .opening(let list) = state { waiting = list } else { waiting = [] }
                switch outcome {
                case .success(let stream): state = .open(stream)
                case .failure: state = .closed
                }
                return waiting
            }
            for waiter in waiting { waiter.resume(with: outcome) }
            return try outcome.get()
        }
    }

    /// Forgets the value when `isStale` says so (or whatever is made, without a predicate):
    /// the next user makes a new one.
    func reset(where isStale: (Value) -> Bool = { _ in true }) {
        state.withLock { state in
            if case .open(let value) = state, !isStale(value) { return }
            if case .opening = state { return }
            state = .closed
        }
    }
}
