/// tooz's `IPCLock` protocol on one semaphore key, one non-blocking step at a time, plus the
/// blocking wait that lets a waiter hear of a release at once.
///
/// The semaphore of a free lock has value 1 or does not exist. Acquiring creates it (as if with
/// value 1) or opens it, then decrements it with `SEM_UNDO`, so the kernel hands the unit back
/// when the holder dies. Releasing *removes* the semaphore, as tooz does: Python waiters blocked in
/// `semop` wake with `EIDRM` and start over. The same holds the other way round, so a Python
/// holder (value 0) makes our try fail, and our hold makes Python's `acquire` block.
enum IPCLock {
    /// How often one try starts over because the semaphore vanished under it. A try is
    /// non-blocking; past this many races it reports the lock as busy and the caller polls again.
    static let maximumRaces = 32

    /// One attempt. Returns the semaphore we decremented, or `nil` when the lock is held.
    static func tryAcquire(_ key: IPCKey) throws(ToozError) -> SysVSemaphore? {
        for _ in 0..<maximumRaces {
            if let created = try SysVSemaphore.create(key: key) {
                // Until we take it the value is 0 and others see the lock as busy, as with Python.
                switch try created.takeCreated() {
                case .acquired: return created
                case .busy: return nil
                case .removed: continue
                }
            }
            guard let existing = try SysVSemaphore.open(key: key) else {
                continue  // removed between our create and open: start over, as tooz does
            }
            switch try existing.tryDecrement() {
            case .acquired: return existing
            case .busy: return nil
            case .removed: continue
            }
        }
        return nil
    }

    /// How a blocking wait for a lock ended.
    enum WaitOutcome: Sendable, Equatable {
        /// The semaphore was removed while we waited (tooz's release, or a break).
        case removed
        /// A unit was there or came back (a holder died and `SEM_UNDO` returned it); we took it
        /// and handed it straight back, so that the caller's next try takes it properly.
        case unitReturned
        /// `timeout` passed (or a signal came) while the lock stayed held.
        case timedOut
    }

    /// Sleeps until the lock whose semaphore is `semaphore` may be free, or `timeout` passes.
    /// Blocks the calling thread: call it on a Dispatch thread, never on the Swift concurrency
    /// pool. Look `semaphore` up by key just before (``SysVSemaphore/open(key:)``): an id
    /// kept from an earlier wait may belong to another key's semaphore by now.
    ///
    /// It blocks in a decrement of the semaphore (value 0 while held), as tooz's own blocking
    /// acquire does: a release removes the semaphore and wakes it with `EIDRM` at once.
    static func waitForRelease(_ semaphore: SysVSemaphore, timeout: Duration) throws(ToozError) -> WaitOutcome {
        switch try semaphore.waitingDecrement(timeout: timeout) {
        case .removed:
            return .removed
        case .timedOut:
            return .timedOut
        case .acquired:
            // Not a grant: the caller's try must take the lock (and mint its token) itself.
            _ = try semaphore.giveBack()
            return .unitReturned
        }
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
