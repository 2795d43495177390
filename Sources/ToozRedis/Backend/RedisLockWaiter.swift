import Synchronization
import Tooz

/// The lock subscription of one waiting acquisition, taken on its first wait.
final class RedisLockWaiter: Sendable {
    private let current = Mutex<ChangeSubscription?>(nil)

    var subscription: ChangeSubscription? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}
