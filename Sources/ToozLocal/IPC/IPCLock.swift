/// tooz's `IPCLock` protocol on one semaphore key, one non-blocking step at a time.
///
/// The semaphore of a free lock has value 1 or does not exist. Acquiring creates it (value 1) or
/// opens it, then decrements it with `SEM_UNDO`, so the kernel hands the unit back when the
/// holder dies. Releasing *removes* the semaphore, as tooz does: Python waiters blocked in
/// `semop` wake with `EIDRM` and start over. The same holds the other way round, so a Python
/// holder (value 0) makes our try fail, and our hold makes Python's `acquire` block.
enum IPCLock {
    /// How often one try starts over because the semaphore vanished under it. A try is
    /// non-blocking; past this many races it reports the lock as busy and the caller polls again.
    static let maximumRaces = 32

    /// One attempt. Returns the semaphore we decremented, or `nil` when the lock is held.
    static func tryAcquire(_ key: IPCKey) throws(ToozError) -> SysVSemaphore? {
        for _ in 0..<maximumRaces {
            let semaphore: SysVSemaphore
            if let created = try SysVSemaphore.create(key: key) {
                // Until SETVAL the value is 0 and others see the lock as busy, as with Python.
                guard try created.setValue(1) else { continue }
                semaphore = created
            } else if let existing = try SysVSemaphore.open(key: key) {
                semaphore = existing
            } else {
                continue  // removed between our create and open: start over, as tooz does
            }
            switch try semaphore.tryDecrement() {
            case .acquired: return semaphore
            case .busy: return nil
            case .removed: continue
            }
        }
        return nil
    }

    /// Whether `semaphore` is still the lock of `key` and still held. A broken lock (removed, or
    /// removed and re-created by someone else) is not.
    static func isHeld(_ semaphore: SysVSemaphore, key: IPCKey) throws(ToozError) -> Bool {
        guard let current = try SysVSemaphore.open(key: key), current.id == semaphore.id else { return false }
        return try semaphore.value() == 0
    }

    /// tooz `IPCLock.release`: removes the semaphore we hold. Returns `false` when it was
    /// already gone (broken). Removes by id, so it never touches a successor's semaphore.
    static func release(_ semaphore: SysVSemaphore) throws(ToozError) -> Bool {
        try semaphore.remove()
    }

    /// tooz `IPCLock.break_`: removes whatever semaphore `key` has now.
    static func breakLock(_ key: IPCKey) throws(ToozError) -> Bool {
        guard let semaphore = try SysVSemaphore.open(key: key) else { return false }
        return try semaphore.remove()
    }
}
