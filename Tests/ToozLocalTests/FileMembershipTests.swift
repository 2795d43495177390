#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends

@testable import ToozLocal

/// Membership liveness, stale records and reading what other tooz versions wrote. Staleness is
/// produced by setting a record's modification time into the past, never by waiting.
@Suite struct FileMembershipTests {
    /// The liveness window (tooz's `timeout`) of every coordinator and bare backend here, in
    /// seconds. Records are fresh for far longer than a test takes on a loaded machine, so a
    /// record is stale only when a test makes it so with ``makeStale(_:)``.
    static let livenessWindow = 600

    /// A coordinator URL for `root` with the suite's liveness window.
    func url(_ root: String) -> String { "file://\(root)?timeout=\(Self.livenessWindow)" }

    /// A member that joined through a bare backend and never heartbeats: a crashed process.
    func ghost(_ root: String) async throws -> FileBackend {
        let backend = try FileBackend(directory: root, membershipTTL: .seconds(Self.livenessWindow))
        try await backend.connect()
        return backend
    }

    /// Sets the record's modification time to twice the liveness window ago.
    func makeStale(_ path: String) throws {
        var then = FileSystem.wallClockNow()
        then.tv_sec -= 2 * Self.livenessWindow
        try FileSystem.setModificationTime(path, to: then)
    }

    func memberPath(_ root: String, _ group: GroupID, _ member: MemberID) -> String {
        FileLayout(root: root).member(member, in: group)
    }

    @Test func membersExpireWhenTheirRecordIsOlderThanTheTimeout() async throws {
        try await withFileDirectory { root in
            let observer = try Coordinator(url: url(root), member: "observer")
            #expect(observer.configuration.membershipTTL == .seconds(Self.livenessWindow))
            let ghost = try await ghost(root)
            try await observer.withRunning {
                try await observer.createGroup("g")
                try await observer.join("g")
                try await ghost.join("g", member: "ghost", capabilities: ["k": "v"])
                #expect(try await observer.membersWithCapabilities(of: "g") == ["observer": nil, "ghost": ["k": "v"]])

                try makeStale(memberPath(root, "g", "ghost"))
                #expect(try await observer.members(of: "g") == ["observer"])
                await #expect { try await observer.capabilities(of: "ghost", in: "g") } throws: { error in
                    (error as? ToozError)?.code == .memberNotJoined
                }
                // Stale records are skipped, not removed: a heartbeat brings the member back.
                #expect(try FileSystem.status(memberPath(root, "g", "ghost")) != nil)
                #expect(try await ghost.heartbeat(member: "ghost", groups: ["g"]).missing.isEmpty)
                #expect(try await observer.members(of: "g") == ["observer", "ghost"])
            }
        }
    }

    @Test func joiningOverADeadIncarnationReplacesItButALiveOneIsRefused() async throws {
        try await withFileDirectory { root in
            let earlier = try await ghost(root)
            let coordinator = try Coordinator(url: url(root), member: "worker")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g")
                try await earlier.join("g", member: "worker", capabilities: "old")
                await #expect { try await coordinator.join("g", capabilities: "new") } throws: { error in
                    (error as? ToozError)?.code == .memberAlreadyJoined
                }
                try makeStale(memberPath(root, "g", "worker"))
                try await coordinator.join("g", capabilities: "new")
                #expect(try await coordinator.membersWithCapabilities(of: "g") == ["worker": "new"])
            }
        }
    }

    @Test func deletingAGroupRemovesDeadMembersButNotLiveOnes() async throws {
        try await withFileDirectory { root in
            let ghost = try await ghost(root)
            let coordinator = try Coordinator(url: url(root), member: "admin")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g")
                try await ghost.join("g", member: "a", capabilities: nil)
                try await ghost.join("g", member: "b", capabilities: nil)
                try makeStale(memberPath(root, "g", "a"))
                await #expect { try await coordinator.deleteGroup("g") } throws: { error in
                    (error as? ToozError)?.code == .groupNotEmpty
                }
                #expect(try FileSystem.status(memberPath(root, "g", "a")) != nil)  // nothing removed on refusal
                try makeStale(memberPath(root, "g", "b"))
                try await coordinator.deleteGroup("g")
                #expect(try await coordinator.groups() == [])
                #expect(try FileSystem.list(root + "/groups") == [])
            }
        }
    }

    @Test func leaveJoinAndMissingGroupsFailLikeTooz() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: url(root), member: "m")
            try await coordinator.withRunning {
                await #expect { try await coordinator.join("nope") } throws: { ($0 as? ToozError)?.code == .groupNotCreated }
                await #expect { try await coordinator.members(of: "nope") } throws: { ($0 as? ToozError)?.code == .groupNotCreated }
                await #expect { try await coordinator.leave("nope") } throws: { ($0 as? ToozError)?.code == .groupNotCreated }
                try await coordinator.createGroup("g")
                await #expect { try await coordinator.leave("g") } throws: { ($0 as? ToozError)?.code == .memberNotJoined }
                await #expect { try await coordinator.updateCapabilities(1, in: "g") } throws: {
                    ($0 as? ToozError)?.code == .memberNotJoined
                }
                try await coordinator.join("g")
                try await coordinator.leave("g")
                #expect(try await coordinator.members(of: "g") == [])
            }
        }
    }

    @Test func updatingCapabilitiesKeepsTheJoinTime() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: url(root), member: "member-1")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g1")
                try await coordinator.join("g1", capabilities: ["weight": 1])
                let path = memberPath(root, "g1", "member-1")
                let before = try MemberRecord(decoding: try #require(try FileSystem.read(path)), path: path)
                try await coordinator.updateCapabilities(["weight": 2], in: "g1")
                let after = try MemberRecord(decoding: try #require(try FileSystem.read(path)), path: path)
                #expect(after.capabilities == ["weight": 2])
                #expect(after.joinedOn == before.joinedOn)
                #expect(after.entries.map(\.key) == before.entries.map(\.key))
                #expect(try await coordinator.capabilities(of: "member-1", in: "g1") == ["weight": 2])
            }
        }
    }

    @Test func filesWrittenByPythonToozOfEveryVersionAreRead() async throws {
        try await withFileDirectory { root in
            let layout = FileLayout(root: root)
            func write(_ bytes: [UInt8], _ path: String) throws {
                try FileSystem.makeDirectoryTree(String(path[..<path.lastIndex(of: "/")!]))
                try FileSystem.writeAtomically(bytes, to: path, temporaryDirectory: root)
            }
            // b'g1' with a bytes member and a str member (encoded=True).
            try write(PythonFixtures.metadataG1, layout.metadata("g1"))
            try write(PythonFixtures.memberCapabilities, layout.member("member-1", in: "g1"))
            try write(PythonFixtures.memberStrEncoded, layout.member("member-s", in: "g1"))
            // 'gs', created with a str id.
            try write(PythonFixtures.metadataStrGS, layout.metadata("gs"))
            // A group and member from tooz before 1.36: bin keys, str ids, no `encoded`.
            // All are written now; the reader's liveness window keeps them fresh however slowly
            // the test runs.
            try write(PythonFixtures.metadataOld, layout.metadata("old-group"))
            try write(PythonFixtures.memberOld, layout.member("old-member", in: "old-group"))

            let coordinator = try Coordinator(url: url(root), member: "reader")
            try await coordinator.withRunning {
                let groups = try await coordinator.groups()
                #expect(groups == ["g1", "gs", "old-group"])
                #expect(
                    try await coordinator.membersWithCapabilities(of: "g1")
                        == ["member-1": PythonFixtures.capabilities, "member-s": nil]
                )
                #expect(try await coordinator.membersWithCapabilities(of: "old-group") == ["old-member": ["x": 1]])
                #expect(try await coordinator.members(of: "gs") == [])
            }
        }
    }

    @Test(arguments: [
        ("not msgpack", Array("not msgpack at all".utf8)),
        ("truncated", Array(PythonFixtures.memberNone.dropLast(3))),
        ("not a map", [0x01]),
        ("no member id", [0x81, 0xa1, 0x78, 0x01]),
        ("member id is a number", [0x81, 0xa9] + Array("member_id".utf8) + [0x07]),
    ] as [(String, [UInt8])])
    func aGarbledMemberRecordIsASerializationFailureNamingTheFile(label: String, bytes: [UInt8]) async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: url(root), member: "m")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g")
                let path = memberPath(root, "g", "garbled")
                try FileSystem.writeAtomically(bytes, to: path, temporaryDirectory: root + "/tmp")
                await #expect { try await coordinator.members(of: "g") } throws: { error in
                    let error = error as? ToozError
                    return error?.code == .serializationFailed && error?.message.contains(path) == true
                }
                await #expect { try await coordinator.capabilities(of: "garbled", in: "g") } throws: { error in
                    (error as? ToozError)?.code == .serializationFailed
                }
            }
        }
    }

    @Test func aGarbledGroupMetadataIsASerializationFailure() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: url(root), member: "m")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g")
                try FileSystem.writeAtomically([0xc1], to: FileLayout(root: root).metadata("g"), temporaryDirectory: root + "/tmp")
                await #expect { try await coordinator.groups() } throws: { error in
                    (error as? ToozError)?.code == .serializationFailed
                }
            }
        }
    }
}
