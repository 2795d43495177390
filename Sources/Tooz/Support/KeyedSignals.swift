import Synchronization

/// Wake-ups of this process's waiters by key, for stores that cannot push: when this process
/// frees a key (a lock file unlocked, a memcached lock deleted), the waiters of this process
/// for that key retry at once instead of at their next poll. Waiters in other processes still
/// poll. A signal exists only while someone is subscribed to its key.
public final class KeyedSignals<Key: Hashable & Sendable>: Sendable {
    @usableFromInline
    struct Subscription {
        @usableFromInline let signal = ChangeBroadcast()
        @usableFromInline var subscribers = 0

        @usableFromInline init() {}
    }

    @usableFromInline let subscriptions = Mutex<[Key: Subscription]>([:])

    public init() {}

    /// The signal of `key`, notified by every ``notify(_:)`` until the matching
    /// ``unsubscribe(_:)``. Subscribe before looking at the store, and read the signal's
    /// generation before looking: a release between the look and the wait then still ends the wait.
    public func subscribe(_ key: Key) -> ChangeBroadcast {
        subscriptions.withLock { subscriptions in
            var subscription = subscriptions[key] ?? Subscription()
            subscription.subscribers += 1
            subscriptions[key] = subscription
            return subscription.signal
        }
    }

    /// Ends one ``subscribe(_:)``.
    public func unsubscribe(_ key: Key) {
        subscriptions.withLock { subscriptions in
            guard var subscription = subscriptions[key] else { return }
            subscription.subscribers -= 1
            subscriptions[key] = subscription.subscribers > 0 ? subscription : nil
        }
    }

    /// Wakes the subscribers of `key`; called right after this process freed it. Inlinable, as
    /// is the other `notify`: they run on every release, and a backend's specialized copy asks
    /// the runtime for no generic metadata.
    @inlinable
    public func notify(_ key: Key) {
        let signal = subscriptions.withLock { $0[key]?.signal }
        signal?.notifyAll()
    }

    /// Wakes the subscribers of the key `makeKey` returns, which is only called when some key
    /// has subscribers: a release nobody waits for builds no key.
    @inlinable
    public func notify(_ makeKey: () -> Key) {
        guard subscriptions.withLock({ !$0.isEmpty }) else { return }
        notify(makeKey())
    }

    /// How many keys have subscribers now.
    public var count: Int { subscriptions.withLock { $0.count } }
}
