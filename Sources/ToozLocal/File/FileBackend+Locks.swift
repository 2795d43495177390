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

    /// How soon a waiter first looks again at a busy lock; the pause doubles up to
    /// ``longestLockPoll``. A lock held for a moment is seen free soon after its release, one
    /// held for long costs about a thousand cheap `fcntl` calls a second.
    static let shortestLockPoll = Duration.microseconds(50)
    static let longestLockPoll = Duration.milliseconds(1)

    /// One non-blocking OFD lock attempt on the lock file (tooz: `FileLock.acquire(blocking=False)`),
    /// then the fencing counter is bumped and, for a leadership, our member id is written.
    ///
    /// The key's files stay open between acquisitions (``FileLockCache``), so a cycle costs a
    /// handful of system calls: the lock, an inode check of each file (is it still the one we
    /// have open?), a read and a write of the counter.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let (files, cached) = try lockFiles(for: key)
        var handles = try cached ?? openLockFile(files)
        // A file removed or replaced since we opened it would give a lock nobody else sees; such
        // a race is retried a few times with a fresh descriptor, then reported as busy.
        for attempt in 0..<3 {
            let locked: Bool
            do {
                locked = try OFDLock.tryLock(handles.lock, path: files.path)
            } catch {
                handles.close()
                throw error
            }
            guard locked else {
                openLockFiles.checkIn(key, files: files, handles: handles)
                return nil
            }
            let current: Bool
            do {
                current = try handles.lockFileIsCurrent(files)
            } catch {
                unlock(handles)
                handles.close()
                throw error
            }
            guard current else {
                unlock(handles)
                handles.close()
                if attempt == 2 { return nil }
                handles = try openLockFile(files)
                continue
            }
            do {
                try handles.openCurrentFencingCounter(files)
                let token = try FencingCounter.next(
                    handles.fencing, path: files.fencing, holder: owner.member, syncParents: syncFencingDirectories
                )
                if case .leadership = key {
                    // Written after the lock is taken, read only while it is held (see holder(of:)).
                    let id = Array(owner.member.rawValue.utf8)
                    try FileSystem.writeAll(id, to: handles.lock, path: files.path)
                    try FileSystem.truncate(handles.lock, to: id.count, path: files.path)
                }
                let held = HeldFileLock(HeldFileLock.Entry(key: key, files: files, handles: handles))
                return LockGrant(owner: owner, fencingToken: FencingToken(token, strength: .durable), handle: held)
            } catch {
                unlock(handles)
                handles.close()
                throw error
            }
        }
        return nil
    }

    /// A session lock needs no renewal; this checks that it still means something: `false` when
    /// the lock file we hold was removed or replaced (then others can lock the new file).
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let entry = grant.handle(as: HeldFileLock.self)?.current else { return false }
        return try entry.handles.lockFileIsCurrent(entry.files)
    }

    /// Unlocks; the files stay open for the next acquisition. Returns `false` when we did not
    /// hold it, or when the lock file had been removed or replaced meanwhile (so the lock was no
    /// longer protecting anything).
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let entry = grant.handle(as: HeldFileLock.self)?.take() else { return false }
        let handles = entry.handles
        // Forget the holder while the lock is still ours, so we never erase a successor's id.
        if handles.fencing >= 0 { FencingCounter.clearHolder(handles.fencing, holder: grant.owner.member) }
        if case .leadership = entry.key { _ = ftruncate(handles.lock, 0) }
        let current = (try? handles.lockFileIsCurrent(entry.files)) ?? false
        unlock(handles)
        if current {
            openLockFiles.checkIn(entry.key, files: entry.files, handles: handles)
        } else {
            handles.close()
        }
        return current
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

    /// tooz's blocking `FileLock.acquire`: tries, and between tries waits with
    /// ``waitForRelease(of:timeout:)``, which sees a release by this process at once and
    /// another process's by a cheap adaptive poll.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        try await pollingAcquire(request) { nap in try await waitForRelease(of: request.key, timeout: nap) }
    }

    /// Returns once `key` looks free, or after `timeout`.
    ///
    /// A release by another coordinator of this process wakes us at once (``LockReleaseSignals``).
    /// Any other holder is noticed by polling with `F_OFD_GETLK` (one cheap system call, no lock
    /// taken), first after ``shortestLockPoll``, then less and less often, down to every
    /// ``longestLockPoll``: a short hold is seen free almost at once, a long one costs little.
    func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let (files, cached) = try lockFiles(for: key)
        guard let handles = try cached ?? LockFileHandles.openExisting(files) else { return }
        defer { openLockFiles.checkIn(key, files: files, handles: handles) }
        let signals = LockReleaseSignals.shared
        // Subscribed before the first look, so a release right after it still wakes us.
        let signal = signals.subscribe(handles.lockIdentity)
        defer { signals.unsubscribe(handles.lockIdentity) }
        var pause = Self.shortestLockPoll
        while true {
            let seen = signal.generation
            guard try OFDLock.isLockedByOthers(handles.lock, path: files.path) else { return }
            let left = deadline - clock.now
            guard left > .zero else { return }
            if try await signal.wait(since: seen, timeout: min(pause, left), clock: .continuous) { return }
            pause = min(pause * 2, Self.longestLockPoll)
        }
    }

    // MARK: Helpers

    /// The files of `key` and its idle open handles, when the cache has them.
    func lockFiles(for key: LockKey) throws(ToozError) -> (files: FileLayout.LockFiles, handles: LockFileHandles?) {
        if let cached = openLockFiles.checkOut(key) { return cached }
        return (try layout.files(for: key), nil)
    }

    func openLockFile(_ files: FileLayout.LockFiles) throws(ToozError) -> LockFileHandles {
        try LockFileHandles.open(files) { () throws(ToozError) in
            try FileSystem.makeDirectories(files.parents, under: layout.root)
        }
    }

    /// Drops our lock on `handles` and wakes this process's waiters for it.
    func unlock(_ handles: LockFileHandles) {
        OFDLock.unlock(handles.lock)
        LockReleaseSignals.shared.notify(handles.lockIdentity)
    }

    /// Flushes the directories above the fencing counters, once per new counter, so that a power
    /// loss cannot take a counter file away and restart its count.
    func syncFencingDirectories() throws(ToozError) {
        for directory in [layout.fencing, layout.extensions, layout.root] {
            try FileSystem.syncDirectory(directory)
        }
    }
}
