import Synchronization

/// The semaphore keys of lock names, derived once per name: a key is an MD5 of the name, which
/// never changes, while a semaphore id must be looked up again for every acquisition (release
/// removes the semaphore).
///
/// Bounded: a program that locks ever new names (one per request, say) would otherwise grow it
/// without end, so it starts afresh when full.
final class IPCLockKeyCache: Sendable {
    /// The most names kept.
    let capacity: Int
    private let keys = Mutex<[String: IPCKey]>([:])

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The key of tooz's lock `name`, as ``IPCKey/lock(_:)`` derives it.
    func key(for name: String) -> IPCKey {
        if let known = keys.withLock({ $0[name] }) { return known }
        let derived = IPCKey.lock(name)
        keys.withLock { keys in
            if keys.count >= capacity { keys.removeAll(keepingCapacity: true) }
            keys[name] = derived
        }
        return derived
    }

    /// How many names are cached now.
    var count: Int { keys.withLock { $0.count } }
}
