import Synchronization
import Tooz

/// Wakes the waiters of this process the moment a lock file is unlocked by this process.
///
/// A waiter cannot be told by the kernel that an OFD lock was released, so
/// ``FileBackend/waitForRelease(of:timeout:)`` polls; but when the holder is another coordinator
/// of the same process (another ``FileBackend`` on the same directory), its release notifies
/// here and the waiter retries at once instead of at its next poll. Keys are file identities,
/// not paths, so two spellings of one directory still meet. A signal exists only while someone
/// waits on that file.
final class LockReleaseSignals: Sendable {
    static let shared = LockReleaseSignals()

    private struct Subscription {
        let signal = ChangeBroadcast()
        var subscribers = 0
    }

    private let subscriptions = Mutex<[FileIdentity: Subscription]>([:])

    init() {}

    /// The signal of `file`, notified by every release until the matching ``unsubscribe(_:)``.
    /// Subscribe before looking at the lock, and read the signal's generation before looking:
    /// a release between the look and the wait then still ends the wait.
    func subscribe(_ file: FileIdentity) -> ChangeBroadcast {
        subscriptions.withLock { subscriptions in
            var subscription = subscriptions[file] ?? Subscription()
            subscription.subscribers += 1
            subscriptions[file] = subscription
            return subscription.signal
        }
    }

    func unsubscribe(_ file: FileIdentity) {
        subscriptions.withLock { subscriptions in
            guard var subscription = subscriptions[file] else { return }
            subscription.subscribers -= 1
            subscriptions[file] = subscription.subscribers > 0 ? subscription : nil
        }
    }

    /// Called right after this process unlocked `file`.
    func notify(_ file: FileIdentity) {
        let signal = subscriptions.withLock { $0[file]?.signal }
        signal?.notifyAll()
    }

    /// How many files have waiters now.
    var count: Int { subscriptions.withLock { $0.count } }
}
