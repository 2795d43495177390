import Synchronization
import Tooz

/// The locks one ``FileBackend`` holds, by acquisition token, each with the handles whose lock
/// file carries its OFD lock.
///
/// The table owns those handles: whoever removes an entry unlocks them and closes or caches
/// them, exactly once, in ``FileBackend/release(_:grant:)`` or ``FileBackend/disconnect()``.
final class FileLockTable: Sendable {
    struct Entry: Sendable {
        var key: LockKey
        var files: FileLayout.LockFiles
        /// The open files; the lock file is locked. Closing it releases the lock.
        var handles: LockFileHandles
    }

    private let entries = Mutex<[String: Entry]>([:])

    init() {}

    func insert(_ entry: Entry, token: String) {
        entries.withLock { $0[token] = entry }
    }

    func entry(for token: String) -> Entry? {
        entries.withLock { $0[token] }
    }

    /// Removes and returns the entry; the caller now owns its descriptor.
    func remove(token: String) -> Entry? {
        entries.withLock { $0.removeValue(forKey: token) }
    }

    /// Removes and returns every entry; the caller now owns their descriptors.
    func removeAll() -> [Entry] {
        entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
    }
}
