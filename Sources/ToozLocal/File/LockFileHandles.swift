#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// The open files of one lock key: the lock file that carries the OFD lock and the key's
/// fencing counter, each with the identity it was opened on.
///
/// They are kept open between acquisitions (see ``FileLockCache``), so a lock cycle costs no
/// `open`/`close`. OFD locks belong to the open file description, so unlocking without closing
/// frees the lock for everyone, and an idle descriptor holds nothing. Whoever has the value owns
/// the descriptors: it closes them with ``close()`` or hands them on, exactly once.
struct LockFileHandles: Sendable {
    /// The lock file, open for reading and writing (a write lock needs a writable descriptor).
    var lock: Int32
    var lockIdentity: FileIdentity
    /// The fencing counter, or -1 until it is first needed (it is opened under the lock).
    var fencing: Int32 = -1
    var fencingIdentity: FileIdentity?

    /// Opens (creating when missing) the lock file of `files`; `makeParents` runs when its
    /// directory is missing.
    static func open(_ files: FileLayout.LockFiles, makeParents: () throws(ToozError) -> Void) throws(ToozError)
        -> LockFileHandles
    {
        let file = try FileSystem.openOrCreate(files.path, makeParents: makeParents)
        let identity = FileIdentity(try FileSystem.status(ofRaw: file.rawValue, path: files.path))
        return LockFileHandles(lock: file.take(), lockIdentity: identity)
    }

    /// Opens the lock file of `files` if it exists, without creating anything.
    static func openExisting(_ files: FileLayout.LockFiles) throws(ToozError) -> LockFileHandles? {
        guard let file = try FileSystem.openIfExists(files.path, flags: O_RDWR) else { return nil }
        let identity = FileIdentity(try FileSystem.status(ofRaw: file.rawValue, path: files.path))
        return LockFileHandles(lock: file.take(), lockIdentity: identity)
    }

    /// Whether `files.path` still names the lock file we have open (it was not removed or
    /// replaced): one `stat`.
    func lockFileIsCurrent(_ files: FileLayout.LockFiles) throws(ToozError) -> Bool {
        try FileSystem.identity(of: files.path) == lockIdentity
    }

    /// Makes ``fencing`` a descriptor of the counter file `files.fencing` names now: the one
    /// already open when it is still that file (one `stat`), else a newly opened one. Call it
    /// holding the lock, so that a counter replaced behind our back is never written through a
    /// stale descriptor.
    mutating func openCurrentFencingCounter(_ files: FileLayout.LockFiles) throws(ToozError) {
        if fencing >= 0 {
            if let identity = fencingIdentity, try FileSystem.identity(of: files.fencing) == identity { return }
            closeDescriptor(fencing)
            fencing = -1
            fencingIdentity = nil
        }
        let directory = String(files.fencing[..<(files.fencing.lastIndex(of: "/") ?? files.fencing.endIndex)])
        let file = try FileSystem.openOrCreate(files.fencing) { () throws(ToozError) in
            try FileSystem.makeDirectoryTree(directory)
        }
        fencingIdentity = FileIdentity(try FileSystem.status(ofRaw: file.rawValue, path: files.fencing))
        fencing = file.take()
    }

    /// Closes both descriptors. Closing the lock file would also drop a lock still held on it.
    func close() {
        closeDescriptor(lock)
        if fencing >= 0 { closeDescriptor(fencing) }
    }
}
