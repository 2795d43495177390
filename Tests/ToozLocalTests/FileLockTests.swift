#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends
import ToozTestKit

@testable import ToozLocal

/// Locks, leadership and fencing of the `file://` backend.
@Suite struct FileLockTests {
    @Test func twoCoordinatorsInOneProcessExcludeEachOther() async throws {
        try await withFileDirectory { root in
            let first = try Coordinator(url: "file://\(root)", member: "first")
            let second = try Coordinator(url: "file://\(root)", member: "second")
            try await first.withRunning {
                try await second.withRunning {
                    try await first.withLock(named: "x") { (_: Lease) async throws -> Void in
                        #expect(try await second.lock(named: "x").tryAcquire() == nil)
                        // Two lock objects of one coordinator exclude each other too.
                        #expect(try await first.lock(named: "x").tryAcquire() == nil)
                        #expect(try await second.lock(named: "x").holder() == "first")
                    }
                    #expect(try await second.lock(named: "x").holder() == nil)
                    let lock = try second.lock(named: "x")
                    let lease = try #require(try await lock.tryAcquire())
                    #expect(lease.member == "second")
                    #expect(try await lock.release())
                }
            }
            #expect(try FileSystem.read(root + "/x") == [])  // tooz's empty lock file
        }
    }

    @Test func aWaiterGetsTheLockOnceItIsReleased() async throws {
        try await withFileDirectory { root in
            let first = try Coordinator(url: "file://\(root)", member: "first")
            let second = try Coordinator(url: "file://\(root)", member: "second")
            try await first.withRunning {
                try await second.withRunning {
                    let held = try await first.lock(named: "x").acquire()
                    try await withThrowingTaskGroup(of: MemberID.self) { group in
                        group.addTask {
                            try await second.withLock(named: "x", wait: .seconds(30)) { lease in lease.member }
                        }
                        let released = try await held.release()
                        let winner = try await group.next()
                        #expect(released)
                        #expect(winner == "second")
                    }
                }
            }
        }
    }

    @Test(arguments: [
        "../x", "/etc/passwd", "a/../../x", "x/../y", "..", ".", "./", "groups", "groups/x", "tmp", "tmp/x",
        ".driver_lock", ".swift-tooz", ".swift-tooz/fencing/x", "./groups", String(repeating: "n", count: 256),
    ])
    func lockNamesThatLeaveTheDirectoryOrHitTheLayoutAreRefused(name: String) async throws {
        try await withFileDirectory { base in
            let root = base + "/root"
            let coordinator = try Coordinator(url: "file://\(root)", member: "m")
            try await coordinator.withRunning {
                let before = try FileSystem.list(root)
                await #expect { try await coordinator.withLock(named: LockName(name)) { _ in } } throws: { error in
                    (error as? ToozError)?.code == .invalidArgument
                }
                let backend = coordinator.backend
                await #expect { _ = try await backend.tryAcquire(.lock(LockName(name)), owner: LockOwner(member: "m"), ttl: .seconds(1)) }
                    throws: { ($0 as? ToozError)?.code == .invalidArgument }
                #expect(throws: ToozError.self) { try FileBackend.validateLockName(LockName(name)) }
                #expect(try FileSystem.list(root) == before)
                #expect(try FileSystem.list(base) == ["root"])
            }
        }
    }

    @Test func lockNamesWithSubdirectoriesAreFilesBelowTheDirectory() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: "file://\(root)", member: "m")
            try await coordinator.withRunning {
                try await coordinator.withLock(named: "jobs//nightly/./rebuild") { _ in }
            }
            #expect(try FileSystem.read(root + "/jobs/nightly/rebuild") == [])
        }
    }

    @Test func fencingTokensGrowStrictlyAcrossHoldersAndInstances() async throws {
        try await withFileDirectory { root in
            var tokens: [FencingToken] = []
            for round in 0..<3 {
                let first = try Coordinator(url: "file://\(root)", member: "first")
                let second = try Coordinator(url: "file://\(root)", member: "second")
                tokens += try await first.withRunning {
                    try await second.withRunning {
                        var tokens: [FencingToken] = []
                        for coordinator in round % 2 == 0 ? [first, second] : [second, first] {
                            tokens.append(try await coordinator.withLock(named: "x") { $0.fencingToken })
                            tokens.append(try await coordinator.withLeadership(of: "g") { $0.fencingToken })
                        }
                        return tokens
                    }
                }
            }
            let lockTokens = stride(from: 0, to: tokens.count, by: 2).map { tokens[$0].value }
            let leaderTokens = stride(from: 1, to: tokens.count, by: 2).map { tokens[$0].value }
            #expect(lockTokens == Array(1...6))
            #expect(leaderTokens == Array(1...6))
            #expect(tokens.allSatisfy { $0.strength == .durable })
            let counter = try #require(try FileSystem.read(root + "/.swift-tooz/fencing/" + FileLayout.safeName("lock:x")))
            // One flushed reservation covers all six tokens; the last holder's id ("second") is
            // blanked with NUL bytes.
            let boot = try #require(FencingCounter.currentBoot)
            #expect(counter == FencingCounter.header(ceiling: 1025, last: 6, boot: boot) + [UInt8](repeating: 0, count: 6))
            #expect(try FencingCounter.parse(counter, path: "counter").holder == [])
        }
    }

    @Test func aGarbledFencingCounterRefusesTheLockInsteadOfGoingBackwards() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: "file://\(root)", member: "m")
            try await coordinator.withRunning {
                try await coordinator.withLock(named: "x") { _ in }
                try FileSystem.writeAtomically(
                    Array("garbage".utf8), to: root + "/.swift-tooz/fencing/" + FileLayout.safeName("lock:x"),
                    temporaryDirectory: root + "/tmp"
                )
                await #expect { try await coordinator.withLock(named: "x") { _ in } } throws: { error in
                    (error as? ToozError)?.code == .serializationFailed
                }
                // The failed attempt did not keep the lock.
                #expect(try await coordinator.lock(named: "x").holder() == nil)
            }
        }
    }

    @Test func leaderElectionAndLeaderQuery() async throws {
        try await withFileDirectory { root in
            let first = try Coordinator(url: "file://\(root)", member: "first")
            let second = try Coordinator(url: "file://\(root)", member: "second")
            try await first.withRunning {
                try await second.withRunning {
                    #expect(try await second.leader(of: "g") == nil)
                    try await first.campaign(for: "g")
                    #expect(try await second.leader(of: "g") == "first")
                    await #expect { try await second.campaign(for: "g", wait: .never) } throws: { error in
                        (error as? ToozError)?.code == .lockBusy
                    }
                    #expect(try await first.standDown(from: "g"))
                    #expect(try await second.leader(of: "g") == nil)
                    try await second.campaign(for: "g", wait: .upTo(.testPatience))
                    #expect(try await first.leader(of: "g") == "second")
                    let leaderFile = root + "/.swift-tooz/leaders/" + FileLayout.safeName("g")
                    #expect(try FileSystem.read(leaderFile) == Array("second".utf8))
                }
            }
        }
    }

    @Test func aClosedHolderFreesItsLocksAtOnce() async throws {
        try await withFileDirectory { root in
            let crashed = try FileBackend(directory: root)
            try await crashed.connect()
            var grant = try await crashed.tryAcquire(.leadership("g"), owner: LockOwner(member: "crashed"), ttl: .seconds(1))
            let crashedToken = try #require(grant).fencingToken
            #expect(try await crashed.holder(of: .leadership("g")) == "crashed")
            let other = try FileBackend(directory: root)
            #expect(try await other.tryAcquire(.leadership("g"), owner: LockOwner(member: "other"), ttl: .seconds(1)) == nil)
            // What the kernel does when a process dies: its descriptors close. Here the grant,
            // which owns the lock file's descriptor, goes without a release.
            await crashed.disconnect()
            grant = nil
            #expect(grant == nil)
            #expect(try await other.holder(of: .leadership("g")) == nil)  // the stale id is not believed
            let taken = try #require(
                try await other.tryAcquire(.leadership("g"), owner: LockOwner(member: "other"), ttl: .seconds(1))
            )
            #expect(taken.fencingToken > crashedToken)
            #expect(try await other.release(.leadership("g"), grant: taken))
            #expect(try await other.release(.leadership("g"), grant: taken) == false)
        }
    }

    @Test func refreshReportsALockFileThatWasRemovedOrReplaced() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let key = LockKey.lock("x")
            let grant = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "m"), ttl: .seconds(1)))
            #expect(try await backend.refresh(key, grant: grant, ttl: .seconds(1)))
            #expect(try FileSystem.unlinkIfExists(root + "/x"))
            #expect(try await backend.refresh(key, grant: grant, ttl: .seconds(1)) == false)
            // Someone else can lock the new file now; our release says the lock was no longer ours.
            let next = try #require(try await backend.tryAcquire(key, owner: LockOwner(member: "n"), ttl: .seconds(1)))
            #expect(try await backend.release(key, grant: grant) == false)
            #expect(try await backend.release(key, grant: next))
            await backend.disconnect()
        }
    }

    /// Python tooz locks with `lockf` (a POSIX record lock); our OFD locks must conflict with it.
    @Test func aPosixRecordLockOnTheFileExcludesUs() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let descriptor = open(root + "/x", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            #expect(descriptor >= 0)
            defer { close(descriptor) }
            var request = flock()
            request.l_type = Int16(F_WRLCK)
            request.l_whence = Int16(SEEK_SET)
            #expect(fcntl(descriptor, F_SETLK, &request) == 0)
            // One check only: closing the backend's own descriptor of the file drops this
            // process's POSIX locks (the very flaw OFD locks avoid); a Python holder is another
            // process and keeps its lock.
            #expect(try await backend.tryAcquire(.lock("x"), owner: LockOwner(member: "m"), ttl: .seconds(1)) == nil)
        }
    }
}
