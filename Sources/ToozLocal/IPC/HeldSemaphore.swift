import Synchronization

/// A lock this backend holds, carried in its grant's handle: the semaphore we decremented and
/// its key. Taken out once, by the release; a grant dropped without a release removes the
/// semaphore on deinit, so a later coordinator of this process does not find the lock stuck.
final class HeldSemaphore: Sendable {
    let key: IPCKey
    private let semaphore: Mutex<SysVSemaphore?>

    init(semaphore: SysVSemaphore, key: IPCKey) {
        self.key = key
        self.semaphore = Mutex(semaphore)
    }

    /// The semaphore while the lock is held.
    var current: SysVSemaphore? { semaphore.withLock { $0 } }

    /// Takes the semaphore out; `nil` after a release.
    func take() -> SysVSemaphore? {
        semaphore.withLock { semaphore in
            defer { semaphore = nil }
            return semaphore
        }
    }

    deinit {
        if let leftover = take() {
            _ = try? IPCLock.release(leftover)
            IPCProcessLocks.shared.released(leftover, key: key)
        }
    }
}
