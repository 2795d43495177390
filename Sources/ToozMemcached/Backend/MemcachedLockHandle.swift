import Synchronization

/// What a memcached lock grant carries: the CAS of the item it stored, which a refresh and a
/// release compare in the same request. A refresh stores the item anew (memcached 1.6.18 has no
/// way to keep the CAS), so the handle follows the new CAS, and refresh and release of one
/// grant take turns: a release must not compare a CAS a refresh is replacing.
final class MemcachedLockHandle: Sendable {
    private struct State {
        var cas: UInt64
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(cas: UInt64) {
        state = Mutex(State(cas: cas))
    }

    var cas: UInt64 { state.withLock { $0.cas } }

    /// Runs `body` with the current CAS, alone among this grant's requests; `body` returns the
    /// new CAS when it stored the item anew.
    func exclusive<Result: Sendable>(
        _ body: (UInt64) async throws -> (result: Result, newCAS: UInt64?)
    ) async throws -> Result {
        await enter()
        defer { leave() }
        let (result, newCAS) = try await body(cas)
        if let newCAS { state.withLock { $0.cas = newCAS } }
        return result
    }

    private func enter() async {
        let entered = state.withLock { state -> Bool in
            if state.busy { return false }
            state.busy = true
            return true
        }
        if entered { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()  // stays busy: handed over
        }
        next?.resume()
    }
}
