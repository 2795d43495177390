import Synchronization

/// One holder at a time per key, in arrival order: the coordinator's leave of a group and the
/// heartbeat's re-join of it take turns, so a re-join can never put back a membership that a
/// leave has just removed.
package final class KeyedGate<Key: Hashable & Sendable>: Sendable {
    /// Per held key, the callers waiting for it.
    private let waiters = Mutex<[Key: [CheckedContinuation<Void, Never>]]>([:])

    package init() {}

    /// Runs `body` while holding `key`, after whoever holds it now (not cancellable: the holder
    /// is bounded by its own operation's timeout).
    package func withGate<Result>(_ key: Key, _ body: () async throws -> Result) async rethrows -> Result {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: Key) async {
        let free = waiters.withLock { waiters -> Bool in
            guard waiters[key] == nil else { return false }
            waiters[key] = []
            return true
        }
        if free { return }
        await withCheckedContinuation { continuation in
            let granted = waiters.withLock { waiters -> Bool in
                guard waiters[key] != nil else {
                    waiters[key] = []
                    return true
                }
                waiters[key]!.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Hands `key` to the next waiter, or frees it.
    private func release(_ key: Key) {
        let next = waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
            guard var queue = waiters[key], !queue.isEmpty else {
                waiters[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            waiters[key] = queue
            return first
        }
        next?.resume()
    }
}
