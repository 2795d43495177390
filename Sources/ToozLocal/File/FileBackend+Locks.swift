#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

extension FileBackend {
    /// Refuses a lock name that would leave the directory or land on the layout: an absolute
    /// name, a `..` component, NUL, or a first component `groups`, `tmp`, `.driver_lock` or
    /// `.swift-tooz`. Called before any I/O; the coordinator's ``NameRules`` cannot express it.
    public static func validateLockName(_ name: LockName) throws(ToozError) {
        _ = try FileLayout.lockComponents(name.rawValue)
    }

    /// One non-blocking OFD lock attempt on the lock file (tooz: `FileLock.acquire(blocking=False)`),
    /// then the fencing counter is bumped and, for a leadership, our member id is written.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let files = try layout.files(for: key)
        // A file removed or replaced between our open and our lock would give a lock nobody else
        // sees; such a race is retried a few times, then reported as busy.
        for _ in 0..<3 {
            let file = try FileSystem.openOrCreate(files.path) { () throws(ToozError) in
                try FileSystem.makeDirectories(files.parents, under: layout.root)
            }
            guard try OFDLock.tryLock(file.rawValue, path: files.path) else { return nil }
            guard try FileSystem.pathStillNames(file.rawValue, path: files.path) else { continue }
            let token = try FencingCounter.next(at: files.fencing, holder: owner.member)
            if case .leadership = key {
                // Written after the lock is taken, read only while it is held (see holder(of:)).
                let id = Array(owner.member.rawValue.utf8)
                try FileSystem.writeAll(id, to: file.rawValue, path: files.path)
                try FileSystem.truncate(file.rawValue, to: id.count, path: files.path)
            }
            heldLocks.insert(FileLockTable.Entry(files: files, descriptor: file.take()), token: owner.token)
            return LockGrant(owner: owner, fencingToken: FencingToken(token, strength: .durable))
        }
        return nil
    }

    /// A session lock needs no renewal; this checks that it still means something: `false` when
    /// the lock file we hold was removed or replaced (then others can lock the new file).
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let entry = heldLocks.entry(for: grant.owner.token) else { return false }
        return try FileSystem.pathStillNames(entry.descriptor, path: entry.files.path)
    }

    /// Unlocks and closes. Returns `false` when we did not hold it, or when the lock file had been
    /// removed or replaced meanwhile (so the lock was no longer protecting anything).
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let entry = heldLocks.remove(token: grant.owner.token) else { return false }
        defer {
            OFDLock.unlock(entry.descriptor)
            closeDescriptor(entry.descriptor)
        }
        // Forget the holder while the lock is still ours, so we never erase a successor's id.
        FencingCounter.clearHolder(at: entry.files.fencing)
        if case .leadership = key { _ = ftruncate(entry.descriptor, 0) }
        return (try? FileSystem.pathStillNames(entry.descriptor, path: entry.files.path)) ?? false
    }

    /// The member holding `key` when a swift-tooz member holds it; `nil` when it is free or held
    /// by a Python tooz member (which records no holder).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let files = try layout.files(for: key)
        guard let file = try FileSystem.openIfExists(files.path, flags: O_RDONLY),
            try OFDLock.isLockedByOthers(file.rawValue, path: files.path)
        else { return nil }
        switch key {
        case .leadership:
            let bytes = try FileSystem.readAll(file, path: files.path, limit: 1 << 16)
            guard !bytes.isEmpty else { return nil }
            return String(validating: bytes, as: UTF8.self).map { MemberID($0) }
        case .lock:
            return try FencingCounter.holder(at: files.fencing)
        }
    }

    /// Polls the lock with `F_OFD_GETLK` (one cheap system call, no lock taken) until it is free
    /// or `timeout` has passed, so a waiter retries soon after a release.
    public func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        let files = try layout.files(for: key)
        guard let file = try FileSystem.openIfExists(files.path, flags: O_RDONLY) else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while try OFDLock.isLockedByOthers(file.rawValue, path: files.path) {
            let left = deadline - clock.now
            guard left > .zero else { return }
            try await Task.sleep(for: min(left, .milliseconds(1)))
        }
    }
}
