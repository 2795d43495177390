#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends

@testable import ToozLocal

/// The fencing counter's reserved ranges: tokens grow strictly even when a reboot lost the
/// writes that were not flushed. A reboot is simulated by storing another boot id in the file,
/// a lost write by rewinding the stored last token.
@Suite struct FileFencingCounterTests {
    static let otherBoot = Array("00000000-1111-2222-3333-444444444444".utf8)

    func counterPath(_ root: String, _ name: String = "x") -> String {
        root + "/.swift-tooz/fencing/" + FileLayout.safeName("lock:" + name)
    }

    func record(_ path: String) throws -> FencingCounter.Record {
        try FencingCounter.parse(try #require(try FileSystem.read(path)), path: path)
    }

    /// Overwrites the counter in place (same inode), as a crash and reboot would leave it.
    func overwrite(_ path: String, with bytes: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        try FileSystem.writeAll(bytes, to: descriptor, path: path)
    }

    func token(_ backend: FileBackend, _ name: LockName = "x", member: MemberID = "m") async throws -> UInt64 {
        let grant = try #require(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: member), ttl: .seconds(1)))
        #expect(try await backend.release(.lock(name), grant: grant))
        return grant.fencingToken.value
    }

    @Test func theBootIDIsReadOnLinux() throws {
        #if os(Linux)
        let boot = try #require(FencingCounter.currentBoot)
        #expect(boot.count == FencingCounter.bootIDLength)
        #expect(boot != FencingCounter.unknownBoot)
        #endif
    }

    @Test func oneFlushedReservationCoversManyTokens() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            var tokens: [UInt64] = []
            for _ in 0..<5 { tokens.append(try await token(backend)) }
            #expect(tokens == [1, 2, 3, 4, 5])
            let stored = try record(counterPath(root))
            #expect(stored.ceiling == 1 + FencingCounter.reservation)
            #expect(stored.last == 5)
            #expect(stored.boot == FencingCounter.currentBoot)
            #expect(stored.holder == [])
            await backend.disconnect()
        }
    }

    @Test func aRebootThatLostWritesNeverRepeatsAToken() async throws {
        try await withFileDirectory { root in
            let before = try FileBackend(directory: root)
            try await before.connect()
            var issued: [UInt64] = []
            for _ in 0..<5 { issued.append(try await token(before)) }
            await before.disconnect()
            // The host lost power: only the flushed ceiling and an older `last` reached the disk,
            // and the kernel that comes back has another boot id.
            let path = counterPath(root)
            let ceiling = try record(path).ceiling
            try overwrite(path, with: FencingCounter.header(ceiling: ceiling, last: 2, boot: Self.otherBoot))

            let after = try FileBackend(directory: root)
            try await after.connect()
            let next = try await token(after)
            #expect(next > issued.max()!)
            #expect(next == ceiling + 1)
            let stored = try record(path)
            #expect(stored.ceiling == next + FencingCounter.reservation)
            #expect(stored.boot == FencingCounter.currentBoot)
            // Back to cheap increments within the new reservation.
            #expect(try await token(after) == next + 1)
            await after.disconnect()
        }
    }

    @Test func aBackendWhoseFilesStayedOpenAcrossTheRewriteStillContinuesFromTheCeiling() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            for _ in 0..<3 { _ = try await token(backend) }
            let path = counterPath(root)
            try overwrite(path, with: FencingCounter.header(ceiling: 1025, last: 1, boot: Self.otherBoot))
            #expect(try await token(backend) == 1026)
            await backend.disconnect()
        }
    }

    @Test func aNewCeilingIsReservedExactlyWhenTheOldOneIsReached() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            _ = try await token(backend)
            let path = counterPath(root)
            let boot = try #require(FencingCounter.currentBoot)
            try overwrite(path, with: FencingCounter.header(ceiling: 3, last: 1, boot: boot))
            var ceilings: [UInt64] = []
            var tokens: [UInt64] = []
            for _ in 0..<3 {
                tokens.append(try await token(backend))
                ceilings.append(try record(path).ceiling)
            }
            #expect(tokens == [2, 3, 4])
            #expect(ceilings == [3, 3, 4 + FencingCounter.reservation])
            await backend.disconnect()
        }
    }

    @Test func withoutABootIDEveryTokenContinuesFromTheCeiling() throws {
        try withCounterFile { descriptor, path in
            let first = try FencingCounter.next(descriptor, path: path, holder: "m", boot: nil) {}
            let second = try FencingCounter.next(descriptor, path: path, holder: "m", boot: nil) {}
            #expect(first == 1)
            #expect(second == 1 + FencingCounter.reservation + 1)
            let stored = try record(path)
            #expect(stored.ceiling == second + FencingCounter.reservation)
            #expect(stored.boot == FencingCounter.unknownBoot)
        }
    }

    @Test func aNewCounterFlushesItsDirectoriesOnceOnly() throws {
        try withCounterFile { descriptor, path in
            var parentSyncs = 0
            let boot = Array("11111111-2222-3333-4444-555555555555".utf8)
            for _ in 0..<3 {
                _ = try FencingCounter.next(descriptor, path: path, holder: "m", boot: boot) { parentSyncs += 1 }
            }
            #expect(parentSyncs == 1)
        }
    }

    @Test func aFailedFlushLeavesNoCeilingToTrust() throws {
        try withCounterFile { descriptor, path in
            let boot = Array("11111111-2222-3333-4444-555555555555".utf8)
            #expect {
                _ = try FencingCounter.next(descriptor, path: path, holder: "m", boot: boot) { () throws(ToozError) in
                    throw ToozError(.backendError, "simulated failure to flush the directory")
                }
            } throws: { error in
                (error as? ToozError)?.code == .backendError
            }
            // No token was handed out, and the next attempt flushes (and syncs the parents) again.
            #expect(try FileSystem.read(path) == [])
            var parentSyncs = 0
            let token = try FencingCounter.next(descriptor, path: path, holder: "m", boot: boot) { parentSyncs += 1 }
            #expect(token == 1)
            #expect(parentSyncs == 1)
        }
    }

    @Test func aCounterFromAnEarlierVersionIsContinued() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            _ = try await token(backend)
            let path = counterPath(root)
            try overwrite(path, with: Array("00000000000000000041\nold-holder".utf8))
            #expect(try record(path) == FencingCounter.Record(ceiling: 41, last: 41, boot: nil, holder: Array("old-holder".utf8)))
            #expect(try await token(backend, member: "new") == 42)
            let stored = try record(path)
            #expect(stored.ceiling == 42 + FencingCounter.reservation)
            #expect(stored.holder == [])
            await backend.disconnect()
        }
    }

    @Test(arguments: [
        ("last above the ceiling", FencingCounter.header(ceiling: 5, last: 6, boot: FileFencingCounterTests.otherBoot)),
        ("too large", Array("99999999999999999999\n".utf8)),
        ("a sign", Array("+0000000000000000001\n".utf8)),
        ("a blank", Array(" 0000000000000000001\n".utf8)),
        ("short", Array("0001\n".utf8)),
        ("text", Array("garbage".utf8)),
    ] as [(String, [UInt8])])
    func aGarbledCounterIsRefused(label: String, bytes: [UInt8]) throws {
        try withCounterFile { descriptor, path in
            try FileSystem.writeAll(bytes, to: descriptor, path: path)
            #expect {
                _ = try FencingCounter.next(descriptor, path: path, holder: "m") {}
            } throws: { error in
                (error as? ToozError)?.code == .serializationFailed
            }
            #expect(try FileSystem.read(path) == bytes)  // left as it was
        }
    }

    @Test func anExhaustedCounterIsRefused() throws {
        try withCounterFile { descriptor, path in
            let boot = Array("11111111-2222-3333-4444-555555555555".utf8)
            let header = FencingCounter.header(ceiling: .max, last: .max - 1, boot: boot)
            try FileSystem.writeAll(header, to: descriptor, path: path)
            let last = try FencingCounter.next(descriptor, path: path, holder: "m", boot: boot) {}
            #expect(last == .max)
            #expect {
                _ = try FencingCounter.next(descriptor, path: path, holder: "m", boot: boot) {}
            } throws: { error in
                (error as? ToozError)?.code == .backendError
            }
        }
    }

    @Test func aShorterHolderBlanksTheRestOfALongerDeadOne() async throws {
        try await withFileDirectory { root in
            let crashed = try FileBackend(directory: root)
            try await crashed.connect()
            _ = try #require(
                try await crashed.tryAcquire(.lock("x"), owner: LockOwner(member: "a-rather-long-member-id"), ttl: .seconds(1))
            )
            // Dies holding the lock: the kernel frees it, nobody clears the recorded holder.
            await crashed.disconnect()
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let grant = try #require(try await backend.tryAcquire(.lock("x"), owner: LockOwner(member: "b"), ttl: .seconds(1)))
            let observer = try FileBackend(directory: root)
            #expect(try await observer.holder(of: .lock("x")) == "b")
            #expect(try record(counterPath(root)).holder == Array("b".utf8))
            #expect(try await backend.release(.lock("x"), grant: grant))
            #expect(try await observer.holder(of: .lock("x")) == nil)
            let bytes = try #require(try FileSystem.read(counterPath(root)))
            #expect(bytes[FencingCounter.headerLength...].allSatisfy { $0 == 0 })
            await backend.disconnect()
        }
    }

    /// Runs `body` with a new, empty counter file open for reading and writing.
    func withCounterFile(_ body: (Int32, String) throws -> Void) throws {
        var template = Array("/tmp/swift-tooz-counter-test-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(descriptor >= 0)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer {
            close(descriptor)
            unlink(path)
        }
        try body(descriptor, path)
    }
}
