import Synchronization

/// A one-shot watch callback, given to ``ZooKeeperClient/exists(_:watcher:)``,
/// ``ZooKeeperClient/getData(_:watcher:)`` or ``ZooKeeperClient/getChildren(_:watcher:)``.
///
/// It is called at most once, on the client's event loop, so it must not block: with the
/// server's event (its path relative to the chroot), or, when the session ends before the watch
/// fired, with an event of type `none` whose state is `expired`, `closed` or `authFailed` (the
/// Java client's convention), so that nobody waits for a watch that can no longer fire. A
/// connection loss does not call it: the watch is re-registered when the session resumes.
package typealias ZooKeeperWatcher = @Sendable (ZooKeeperWatcherEvent) -> Void

/// A one-shot watch to await: pass ``watcher`` to a read, then await ``event()``.
///
/// ```swift
/// let watch = ZooKeeperWatch()
/// let (children, _) = try await client.getChildren("/tooz/group", watcher: watch.watcher)
/// let event = try await watch.event()   // NodeChildrenChanged /tooz/group
/// ```
package final class ZooKeeperWatch: Sendable {
    private struct State {
        var event: ZooKeeperWatcherEvent?
        var waiters: [Int: CheckedContinuation<ZooKeeperWatcherEvent, any Error>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// The callback to register; the first event it receives is the watch's.
    package var watcher: ZooKeeperWatcher {
        { [self] event in self.fire(event) }
    }

    /// The event, if the watch has fired.
    package var firedEvent: ZooKeeperWatcherEvent? { self.state.withLock { $0.event } }

    /// Waits until the watch fires and returns its event.
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled first.
    package func event() async throws -> ZooKeeperWatcherEvent {
        let id = self.state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ZooKeeperWatcherEvent, any Error>) in
                let immediate: Result<ZooKeeperWatcherEvent, any Error>? = self.state.withLock { state in
                    if let event = state.event { return .success(event) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func fire(_ event: ZooKeeperWatcherEvent) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<ZooKeeperWatcherEvent, any Error>] in
            guard state.event == nil else { return [] }
            state.event = event
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: event) }
    }
}
