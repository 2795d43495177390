import Synchronization
import Tooz

/// A lock this backend holds, carried in its ``LockGrant/handle``: the lock's files and the
/// open handles whose lock file carries the OFD lock.
///
/// Whoever takes the entry out unlocks its handles and closes or caches them, exactly once: a
/// release, or the deinit when a grant is dropped without one (the lock then frees with it).
final class HeldFileLock: Sendable {
    struct Entry: Sendable {
        var key: LockKey
        var files: FileLayout.LockFiles
        /// The open files; the lock file is locked. Closing it releases the lock.
        var handles: LockFileHandles
    }

    private let entry: Mutex<Entry?>

    init(_ entry: Entry) {
        self.entry = Mutex(entry)
    }

    /// The entry while the lock is held.
    var current: Entry? { entry.withLock { $0 } }

    /// Takes the entry out; the caller now owns its descriptors. `nil` after a release.
    func take() -> Entry? {
        entry.withLock { entry in
            defer { entry = nil }
            return entry
        }
    }

    deinit {
        if let leftover = take() {
            OFDLock.unlock(leftover.handles.lock)
            leftover.handles.close()
        }
    }
}
