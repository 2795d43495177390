import Synchronization

/// What a change subscription follows.
public enum ChangeTopic: Hashable, Sendable {
    /// Membership, capabilities and leadership of a group.
    case group(GroupID)
    /// A lock or leadership becoming free.
    case lock(LockKey)
}

/// A backend's promise to notify ``signal`` when its topic may have changed, held while an
/// event stream or a lock waiter needs it.
///
/// The backend keeps its server-side interest (LISTEN, a watch, client tracking) while any
/// subscription to a topic is alive, and drops it when the last one is cancelled. ``cancel()``
/// is synchronous and idempotent, and runs on deinit, so an abandoned iterator cannot leak one.
public final class ChangeSubscription: Sendable {
    /// Notified on every possible change.
    public let signal: ChangeBroadcast
    private let onCancel: Mutex<(@Sendable () -> Void)?>

    /// - Parameter onCancel: called once, when the subscription is cancelled or deallocated.
    public init(signal: ChangeBroadcast, onCancel: @escaping @Sendable () -> Void = {}) {
        self.signal = signal
        self.onCancel = Mutex(onCancel)
    }

    /// Ends the subscription. Later calls do nothing.
    public func cancel() {
        let action = onCancel.withLock { action -> (@Sendable () -> Void)? in
            defer { action = nil }
            return action
        }
        action?()
    }

    deinit { cancel() }
}
