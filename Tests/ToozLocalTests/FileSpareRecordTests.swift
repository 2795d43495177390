#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends

@testable import ToozLocal

/// A leave keeps the record file in `DIR/tmp` for the next join to rewrite (no inode churn);
/// the bytes in the group stay exactly what tooz writes.
@Suite struct FileSpareRecordTests {
    func memberPath(_ root: String, _ group: GroupID, _ member: MemberID) -> String {
        FileLayout(root: root).member(member, in: group)
    }

    func temporaryFiles(_ root: String) throws -> [String] {
        try FileSystem.list(root + "/tmp") ?? []
    }

    @Test func aLeftRecordIsRewrittenByTheNextJoinWithExactBytes() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            try await backend.createGroup("g1")
            try await backend.createGroup("g2")
            try await backend.join("g1", member: "m", capabilities: PythonFixtures.capabilities)
            let joined = try #require(try FileSystem.status(memberPath(root, "g1", "m")))
            try await backend.leave("g1", member: "m")
            #expect(try FileSystem.status(memberPath(root, "g1", "m")) == nil)
            let spares = try temporaryFiles(root)
            #expect(spares.count == 1)
            #expect(try await backend.members(of: "g1") == [:])

            // A smaller record into the same file: it is truncated to exactly the new bytes.
            try await backend.join("g2", member: "m", capabilities: nil)
            #expect(try temporaryFiles(root) == [])
            let path = memberPath(root, "g2", "m")
            let status = try #require(try FileSystem.status(path))
            #expect(status.st_ino == joined.st_ino)  // the same file, renamed back into a group
            #expect(status.st_mode & 0o7777 == 0o600)
            let bytes = try #require(try FileSystem.read(path))
            let record = try MemberRecord(decoding: bytes, path: path)
            let joinedOn = try #require(record.joinedOn)
            #expect(bytes == MemberRecord(member: "m", capabilities: nil, joinedOn: joinedOn).encoded())
            #expect(try await backend.members(of: "g2") == ["m": nil])
            await backend.disconnect()
        }
    }

    @Test func disconnectRemovesTheSparesAndAtMostAFewAreKept() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let groups = (0..<(SpareRecordFiles.capacity + 2)).map { GroupID("g\($0)") }
            for group in groups {
                try await backend.createGroup(group)
                try await backend.join(group, member: "m", capabilities: nil)
            }
            for group in groups { try await backend.leave(group, member: "m") }
            #expect(try temporaryFiles(root).count == SpareRecordFiles.capacity)
            await backend.disconnect()
            #expect(try temporaryFiles(root) == [])
        }
    }

    @Test func aSpareRemovedBehindOurBackOnlyCostsANewFile() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            try await backend.createGroup("g")
            try await backend.join("g", member: "m", capabilities: "first")
            try await backend.leave("g", member: "m")
            for name in try temporaryFiles(root) { #expect(try FileSystem.unlinkIfExists(root + "/tmp/" + name)) }
            try await backend.join("g", member: "m", capabilities: "second")
            #expect(try await backend.members(of: "g") == ["m": "second"])
            #expect(try temporaryFiles(root) == [])
            await backend.disconnect()
        }
    }

    @Test func aSpareLinkedElsewhereIsNotReused() throws {
        try withTemporaryDirectory { root in
            let spare = root + "/spare"
            let other = root + "/other-name"
            let target = root + "/record"
            try FileSystem.writeAtomically([1, 2, 3], to: spare, temporaryDirectory: root)
            #expect(link(spare, other) == 0)
            #expect(FileSystem.writeAtomically([4, 5], to: target, reusing: spare) == false)
            #expect(try FileSystem.status(target) == nil)
            #expect(try FileSystem.read(other) == [1, 2, 3])  // untouched
            #expect(FileSystem.writeAtomically([4, 5], to: target, reusing: root + "/missing") == false)
        }
    }

    @Test func connectRemovesOurDayOldTemporaryFilesOnly() async throws {
        try await withFileDirectory { root in
            let backend = try FileBackend(directory: root)
            try await backend.connect()
            let old = root + "/tmp/swift-tooz-0123456789abcdef.tmp"
            let fresh = root + "/tmp/swift-tooz-fedcba9876543210.tmp"
            let python = root + "/tmp/tmpab12cd34"
            for path in [old, fresh, python] { try FileSystem.writeAtomically([1], to: path, temporaryDirectory: root) }
            var dayAndAHourAgo = FileSystem.wallClockNow()
            dayAndAHourAgo.tv_sec -= 25 * 3600
            try FileSystem.setModificationTime(old, to: dayAndAHourAgo)
            try FileSystem.setModificationTime(python, to: dayAndAHourAgo)
            try await backend.connect()
            #expect(Set(try temporaryFiles(root)) == ["swift-tooz-fedcba9876543210.tmp", "tmpab12cd34"])
            await backend.disconnect()
        }
    }

    func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/swift-tooz-spare-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let path = String(cString: try #require(made))
        defer { try? FileSystem.removeTree(path) }
        try body(path)
    }
}
