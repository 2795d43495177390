import Synchronization

/// Wakes every task waiting for "something changed". Waiters pass the generation they last saw,
/// so a change that happens between a check and the wait is never missed.
///
/// Backends that can push hand one out in each ``ChangeSubscription`` and call ``notifyAll()``
/// when its topic changes.
public final class ChangeBroadcast: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The current generation; pass it to ``wait(since:)``.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Advances the generation and wakes every waiter.
    public func notifyAll() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns as soon as the generation differs from `seen`. Throws `CancellationError`.
    public func wait(since seen: UInt64) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.generation != seen { return .success(()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Waits for a change after `seen` or for `timeout` on `clock`, whichever comes first.
    /// Returns `true` when a change woke it. Throws `CancellationError`.
    public func wait(since seen: UInt64, timeout: Duration, clock: any ToozClock) async throws -> Bool {
        try await Self.waitForAny([(self, seen)], timeout: timeout, clock: clock)
    }

    /// Waits for a change after `seen` or until the reading `deadline` of `clock`, whichever
    /// comes first. Returns `true` when a change woke it. Throws `CancellationError`.
    public func wait(since seen: UInt64, until deadline: Duration, clock: any ToozClock) async throws -> Bool {
        try await Self.waitForAny([(self, seen)], until: deadline, clock: clock)
    }

    /// Waits until any of `sources` (each a broadcast and the generation last seen of it)
    /// changes, or for `timeout` on `clock`. Returns `true` when a change woke it.
    public static func waitForAny(
        _ sources: [(ChangeBroadcast, UInt64)], timeout: Duration, clock: any ToozClock
    ) async throws -> Bool {
        // The deadline is read now, not in the child task that sleeps, which may start later.
        try await waitForAny(sources, until: clock.now() + timeout, clock: clock)
    }

    /// Waits until any of `sources` changes, or until the reading `deadline` of `clock`.
    /// Returns `true` when a change woke it.
    public static func waitForAny(
        _ sources: [(ChangeBroadcast, UInt64)], until deadline: Duration, clock: any ToozClock
    ) async throws -> Bool {
        if sources.contains(where: { $0.0.generation != $0.1 }) { return true }
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            for (broadcast, seen) in sources {
                group.addTask {
                    try await broadcast.wait(since: seen)
                    return true
                }
            }
            group.addTask {
                try await clock.sleep(until: deadline)
                return false
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
