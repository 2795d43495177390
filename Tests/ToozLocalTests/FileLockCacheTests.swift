#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends

@testable import ToozLocal

/// Lock and fencing files kept open between acquisitions: still correct when the files are
/// removed or replaced meanwhile, bounded, closed on disconnect; and waiting for a release.
@Suite struct FileLockCacheTests {
    func acquire(_ backend: FileBackend, _ name: LockName, as member: MemberID = "m") async throws -> LockGrant? {
        try await backend.tryAcquire(.lock(name), owner: LockOwner(member: member), ttl: .seconds(1))
    }

    @Test func theIdentityOfAPathIsThatOfItsOpenFile() throws {
        try withFileDirectoryBlocking { root in
            let path = root + "/file"
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            let opened = FileIdentity(try FileSystem.status(ofRaw: descriptor, path: path))
            #expect(try FileSystem.identity(of: path) == opened)
            #expect(try FileSystem.identity(of: root + "/missing") == nil)
            #expect(try FileSystem.identity(of: path + "/below-a-file") == nil)
        }
    }

    @Test func aLockFileReplacedWhileOurDescriptorWasIdleIsNotTrusted() async throws {
        try await withFileDirectory { root in
            let cached = try FileBackend(directory: root)
            try await cached.connect()
            let first = try #require(try await acquire(cached, "x"))
            #expect(try await cached.release(.lock("x"), grant: first))
            #expect(cached.openLockFiles.counts == (1, 1))
            // Someone replaces the lock file; another backend locks the new one.
            #expect(try FileSystem.unlinkIfExists(root + "/x"))
            let other = try FileBackend(directory: root)
            try await other.connect()
            let held = try #require(try await acquire(other, "x", as: "other"))
            // Our idle descriptor names the old file: locking it must not count.
            #expect(try await acquire(cached, "x") == nil)
            #expect(try await other.release(.lock("x"), grant: held))
            let again = try #require(try await acquire(cached, "x"))
            #expect(again.fencingToken > held.fencingToken)
            #expect(try await cached.release(.lock("x"), grant: again))
            await cached.disconnect()
            await other.disconnect()
        }
    }

    @Test func aFencingCounterReplacedWhileOurDescriptorWasIdleIsReadAfresh() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let first = try #require(try await acquire(backend, "x"))
            #expect(first.fencingToken.value == 1)
            #expect(try await backend.release(.lock("x"), grant: first))
            try FileSystem.writeAtomically(
                Array("00000000000000000100\n".utf8), to: root + "/.swift-tooz/fencing/" + FileLayout.safeName("lock:x"),
                temporaryDirectory: root + "/tmp"
            )
            let second = try #require(try await acquire(backend, "x"))
            #expect(second.fencingToken.value == 101)
            #expect(try await backend.release(.lock("x"), grant: second))
            await backend.disconnect()
        }
    }

    @Test func twoHoldersInOneBackendUseTwoDescriptorsAndTheSurplusIsClosed() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let held = try #require(try await acquire(backend, "x"))
            // A second attempt of the same backend opens its own description, which conflicts.
            #expect(try await acquire(backend, "x") == nil)
            #expect(backend.openLockFiles.counts == (1, 1))  // the attempt's descriptor, idle
            #expect(try await backend.release(.lock("x"), grant: held))
            #expect(backend.openLockFiles.counts == (1, 1))  // the holder's was one too many
            let again = try #require(try await acquire(backend, "x"))
            #expect(backend.openLockFiles.counts == (1, 0))
            #expect(try await backend.release(.lock("x"), grant: again))
            await backend.disconnect()
        }
    }

    @Test func theCacheForgetsTheLeastRecentlyUsedNamesBeyondItsCapacity() async throws {
        try await withFileDirectory { root in
            let layout = FileLayout(root: root)
            let cache = FileLockCache(capacity: 3)
            func add(_ name: LockName) throws {
                let files = try layout.files(for: .lock(name))
                cache.checkIn(.lock(name), files: files, handles: try LockFileHandles.open(files) {})
            }
            try add("a")
            try add("b")
            try add("c")
            // "a" is used again, so "b" is now the least recently used.
            let used = try #require(cache.checkOut(.lock("a")))
            cache.checkIn(.lock("a"), files: used.files, handles: try #require(used.handles))
            try add("d")
            #expect(cache.counts == (3, 3))
            #expect(cache.checkOut(.lock("b")) == nil)  // used least recently, forgotten
            let a = try #require(cache.checkOut(.lock("a")))
            #expect(a.files.path == root + "/a")
            let handles = try #require(a.handles)
            #expect(cache.counts == (3, 2))
            handles.close()
            for handles in cache.removeAll() { handles.close() }
            #expect(cache.counts == (0, 0))
        }
    }

    @Test func aBackendKeepsAtMostTheCapacityOfNamesOpenAndClosesThemOnDisconnect() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            for index in 0..<(FileLockCache.defaultCapacity + 20) {
                let name = LockName("lock-\(index)")
                let grant = try #require(try await acquire(backend, name))
                #expect(try await backend.release(.lock(name), grant: grant))
            }
            #expect(backend.openLockFiles.counts == (FileLockCache.defaultCapacity, FileLockCache.defaultCapacity))
            await backend.disconnect()
            #expect(backend.openLockFiles.counts == (0, 0))
        }
    }

    @Test func waitingForALockWhoseFileDoesNotExistReturnsAtOnceAndCreatesNothing() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            try await backend.waitForRelease(of: .lock("nothing-here"), timeout: .seconds(60))
            #expect(try FileSystem.status(root + "/nothing-here") == nil)
            await backend.disconnect()
        }
    }

    @Test func aWaiterReturnsOnceAHolderOfThisProcessReleases() async throws {
        try await withFileDirectory { root in
            let holder = try FileBackend(directory: root)
            let waiter = try FileBackend(directory: root)
            try await holder.connect()
            try await waiter.connect()
            let grant = try #require(try await acquire(holder, "x", as: "holder"))
            // The lock stays held: the wait ends at its timeout, without an error.
            try await waiter.waitForRelease(of: .lock("x"), timeout: .milliseconds(20))
            #expect(try await acquire(waiter, "x", as: "waiter") == nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await waiter.waitForRelease(of: .lock("x"), timeout: .seconds(60)) }
                #expect(try await holder.release(.lock("x"), grant: grant))
                try await group.next()
            }
            let taken = try #require(try await acquire(waiter, "x", as: "waiter"))
            #expect(try await waiter.release(.lock("x"), grant: taken))
            await holder.disconnect()
            await waiter.disconnect()
        }
    }

    @Test func releaseSignalsReachOnlyTheirFileAndEndWithTheirLastWaiter() {
        let signals = KeyedSignals<FileIdentity>()
        let x = FileIdentity(deviceMajor: 8, deviceMinor: 1, inode: 100)
        let y = FileIdentity(deviceMajor: 8, deviceMinor: 1, inode: 101)
        signals.notify(x)  // nobody waits: nothing to do
        let first = signals.subscribe(x)
        let second = signals.subscribe(x)
        #expect(first === second)
        let seen = first.generation
        signals.notify(y)
        #expect(first.generation == seen)
        signals.notify(x)
        #expect(first.generation != seen)
        signals.unsubscribe(x)
        #expect(signals.count == 1)
        signals.unsubscribe(x)
        #expect(signals.count == 0)
    }

    @Test func aPosixRecordLockExcludesUsEvenThroughAnIdleCachedDescriptor() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let grant = try #require(try await acquire(backend, "x"))
            #expect(try await backend.release(.lock("x"), grant: grant))
            let descriptor = open(root + "/x", O_RDWR | O_CLOEXEC)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            var request = flock()
            request.l_type = Int16(F_WRLCK)
            request.l_whence = Int16(SEEK_SET)
            #expect(fcntl(descriptor, F_SETLK, &request) == 0)
            #expect(try await acquire(backend, "x") == nil)
        }
    }

    /// ``withFileDirectory`` for synchronous bodies.
    func withFileDirectoryBlocking(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/swift-tooz-file-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let path = String(cString: try #require(made))
        defer { try? FileSystem.removeTree(path) }
        try body(path)
    }
}
