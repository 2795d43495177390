import Synchronization
import Tooz

/// The backend's watches: one ``ChangeBroadcast`` per followed group, the one-shot ZooKeeper
/// watches that notify it, and the watches lock waiters share on a holder's node.
///
/// Watch callbacks run on the client's event loop, so they only mark the watch as spent and
/// notify. Re-arming happens in the next read of the group (``ZooKeeperBackend/members(of:)``
/// and ``ZooKeeperBackend/holder(of:)``, which an event stream calls on every wake-up), so no
/// background task is needed. A group that is missing when read gets an `exists` watch instead
/// of a child watch (a child watch cannot be set on a missing node), so that its re-creation
/// wakes the stream, which then reads it and arms its child watch. A session that expires fires every watch (event `none`), and a
/// resumed session re-registers them, with changes made meanwhile delivered at once: streams
/// re-read and emit the difference either way.
final class ZooKeeperGroupWatches: Sendable {
    private struct State {
        var signals: [GroupID: ChangeBroadcast] = [:]
        /// Paths with a group watch registered and not fired yet, so a re-read does not stack
        /// a second callback on the same node.
        var armed: Set<String> = []
        /// Unfired watches on lock holders' nodes, shared by every waiter of this backend.
        var holderWatches: [String: ZooKeeperWatch] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// The signal of `group`, made on first use.
    func signal(for group: GroupID) -> ChangeBroadcast {
        state.withLock { state in
            if let signal = state.signals[group] { return signal }
            let signal = ChangeBroadcast()
            state.signals[group] = signal
            return signal
        }
    }

    /// A watcher for `path` that notifies `group`'s signal, or `nil` when nobody follows the
    /// group or a watch on `path` is already armed. Call ``disarm(_:)`` if the read that was
    /// to register it failed.
    func arm(_ path: String, for group: GroupID) -> ZooKeeperWatcher? {
        let signal = state.withLock { state -> ChangeBroadcast? in
            guard let signal = state.signals[group], !state.armed.contains(path) else { return nil }
            state.armed.insert(path)
            return signal
        }
        guard let signal else { return nil }
        return { [weak self] _ in
            self?.disarm(path)
            signal.notifyAll()
        }
    }

    /// The key under which ``arm(_:for:)`` tracks the `exists` watch on a group node that is
    /// missing (it fires when the node is created), apart from the child watch on the same path.
    static func creationKey(_ path: String) -> String { path + "#exists" }

    /// Wakes `group`'s stream, if anyone follows the group.
    func notify(_ group: GroupID) {
        state.withLock { $0.signals[group] }?.notifyAll()
    }

    /// Forgets the watch on `path` (it fired, or its read failed and left none).
    func disarm(_ path: String) {
        _ = state.withLock { $0.armed.remove(path) }
    }

    /// The shared unfired watch on a holder's node, and whether the caller must register it.
    func holderWatch(_ path: String) -> (watch: ZooKeeperWatch, register: Bool) {
        state.withLock { state in
            if let watch = state.holderWatches[path], watch.firedEvent == nil { return (watch, false) }
            let watch = ZooKeeperWatch()
            state.holderWatches[path] = watch
            // Spent watches of other holders are dropped here rather than in their callbacks.
            state.holderWatches = state.holderWatches.filter { $0.value.firedEvent == nil }
            return (watch, true)
        }
    }

    /// Drops a holder watch whose registration failed.
    func forgetHolderWatch(_ path: String, _ watch: ZooKeeperWatch) {
        state.withLock { state in
            if state.holderWatches[path] === watch { state.holderWatches[path] = nil }
        }
    }

    /// Wakes every group stream, for example when the backend disconnects.
    func wakeEveryone() {
        let signals = state.withLock { state in
            state.armed.removeAll()
            return Array(state.signals.values)
        }
        for signal in signals { signal.notifyAll() }
    }
}
