#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import ToozBackends

@testable import ToozLocal

/// Layout, bytes, modes and URL handling of the `file://` backend. The expected bytes were written
/// by Python tooz 9.1.0 (`tooz.utils.dumps`, exactly what its file driver writes) and are
/// embedded here.
@Suite struct FileBackendTests {
    @Test func urlDefaultsFollowTooz() throws {
        let (backend, configuration) = try BackendFactory.makeBackend(url: "file:///tmp/swift-tooz-url-test")
        let file = try #require(backend as? FileBackend)
        #expect(file.directory == "/tmp/swift-tooz-url-test")
        #expect(file.membershipTTL == .seconds(10))
        #expect(configuration.membershipTTL == .seconds(10))
        #expect(configuration.lockPollInterval == .milliseconds(10))
        #expect(file.info.fencing == .durable)
        #expect(file.info.leaseKind == .session)
        #expect(file.info.eventDelivery == .polled)
        #expect(file.info.features == [.groups, .membership, .updateCapabilities, .leaderElection, .leaderQuery, .locks])
        #expect(file.info.characteristics == [.distributedAcrossThreads, .distributedAcrossProcesses, .nonTimeoutBased])
    }

    @Test func urlTimeoutIsTheMembershipTTLAndExecutorIsAccepted() throws {
        let (backend, configuration) = try BackendFactory.makeBackend(
            url: "file:///tmp/swift-tooz-url-test/./sub/?timeout=1&executor=threaded&lock_poll_interval=0.5"
        )
        let file = try #require(backend as? FileBackend)
        #expect(file.directory == "/tmp/swift-tooz-url-test/sub")
        #expect(file.membershipTTL == .seconds(1))
        #expect(configuration.membershipTTL == .seconds(1))
        #expect(configuration.lockPollInterval == .milliseconds(500))
    }

    @Test(arguments: [
        "file://relative/dir", "file:///a/../b", "file:///", "file:///tmp/x?bogus=1", "file://user:pw@/tmp/x",
        "file:///tmp/x?timeout=0", "file:///tmp/x%00y",
    ])
    func badURLsAreRefused(url: String) {
        #expect {
            _ = try BackendFactory.makeBackend(url: url)
        } throws: { error in
            let error = error as? ToozError
            return error?.code == .invalidConfiguration && error?.message.contains("pw") == false
        }
    }

    @Test func anEmptyPathMeansTheStateDirectory() throws {
        let url = try BackendURL("file://")
        #expect(try FileBackend.directory(of: url, environment: { ["XDG_STATE_HOME": "/s", "HOME": "/h"][$0] }) == "/s/tooz")
        #expect(try FileBackend.directory(of: url, environment: { ["HOME": "/h/"][$0] }) == "/h/.local/state/tooz")
        // A relative XDG_STATE_HOME is to be ignored (XDG base directory specification).
        #expect(
            try FileBackend.directory(of: url, environment: { ["XDG_STATE_HOME": "rel", "HOME": "/h"][$0] })
                == "/h/.local/state/tooz"
        )
        #expect(throws: ToozError.self) { try FileBackend.directory(of: url, environment: { _ in nil }) }
        #expect(try FileBackend.directory(of: BackendURL("file://localhost/srv/t"), environment: { _ in nil }) == "/srv/t")
    }

    @Test func groupAndMemberFilesHaveToozNamesAndBytes() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: "file://\(root)", member: "member-1")
            let capabilities = PythonFixtures.capabilities
            try await coordinator.withRunning {
                try await coordinator.createGroup("g1")
                try await coordinator.join("g1", capabilities: capabilities)

                let group = root + "/groups/a46e558d11cb2400bab09c1ca969e615142ef3d6"
                #expect(try FileSystem.read(group + "/.metadata") == PythonFixtures.metadataG1)
                let memberPath = group + "/8b1e49a1b1843b6f0e91cfdfa1ab2d954c0ebe0b.raw"
                let bytes = try #require(try FileSystem.read(memberPath))
                let record = try MemberRecord(decoding: bytes, path: memberPath)
                #expect(record.entries.map(\.key) == ["capabilities", "joined_on", "member_id", "encoded"])
                let joinedOn = try #require(record.joinedOn)
                #expect(joinedOn.timeZone == nil)  // naive local time, as datetime.now()
                // Our bytes are Python's bytes once the join time is the same.
                #expect(bytes == MemberRecord(member: "member-1", capabilities: capabilities, joinedOn: joinedOn).encoded())
                #expect(try FileSystem.list(root + "/tmp") == [])  // temporary files were renamed away
                #expect(try FileSystem.read(root + "/.driver_lock") == [])
                #expect(Set(try FileSystem.list(root) ?? []) == ["groups", "tmp", ".driver_lock", ".swift-tooz"])
            }
        }
    }

    @Test func recordsEncodeExactlyLikePythonTooz() {
        let joinedOn = PythonFixtures.joinedOn
        #expect(GroupMetadataRecord.encode("g1") == PythonFixtures.metadataG1)
        #expect(MemberRecord(member: "member-1", capabilities: nil, joinedOn: joinedOn).encoded() == PythonFixtures.memberNone)
        #expect(
            MemberRecord(member: "member-1", capabilities: PythonFixtures.capabilities, joinedOn: joinedOn).encoded()
                == PythonFixtures.memberCapabilities
        )
        #expect(FileLayout.safeName("g1") == "a46e558d11cb2400bab09c1ca969e615142ef3d6")
        #expect(FileLayout.safeName("member-1") == "8b1e49a1b1843b6f0e91cfdfa1ab2d954c0ebe0b")
    }

    @Test func everythingCreatedIsPrivateToTheOwner() async throws {
        try await withFileDirectory { base in
            let root = base + "/deep/er/root"
            let coordinator = try Coordinator(url: "file://\(root)", member: "member-1")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g1")
                try await coordinator.join("g1")
                try await coordinator.withLock(named: "sub/dir/lock") { _ in }
                try await coordinator.withLeadership(of: "g1") { _ in }
            }
            var directories: [String] = [base + "/deep", base + "/deep/er"]
            var files: [String] = []
            func walk(_ path: String) throws {
                directories.append(path)
                for name in try FileSystem.list(path) ?? [] {
                    let child = path + "/" + name
                    if try #require(try FileSystem.status(child)).isRegularFile { files.append(child) } else { try walk(child) }
                }
            }
            try walk(root)
            // deep, er, root, groups, g1, tmp, .swift-tooz, leaders, fencing, sub, dir
            #expect(directories.count == 11)
            #expect(files.count == 6)  // .driver_lock, .metadata, lock, leader, 2 fencing counters
            for path in directories {
                #expect(try #require(try FileSystem.status(path)).st_mode & 0o7777 == 0o700, "\(path)")
            }
            for path in files {
                #expect(try #require(try FileSystem.status(path)).st_mode & 0o7777 == 0o600, "\(path)")
            }
        }
    }

    @Test func createGroupRefusesAnExistingGroupWithoutRewritingIt() async throws {
        try await withFileDirectory { root in
            let coordinator = try Coordinator(url: "file://\(root)", member: "m")
            try await coordinator.withRunning {
                try await coordinator.createGroup("g1")
                let path = root + "/groups/a46e558d11cb2400bab09c1ca969e615142ef3d6/.metadata"
                let before = try #require(try FileSystem.status(path))
                await #expect { try await coordinator.createGroup("g1") } throws: { error in
                    (error as? ToozError)?.code == .groupAlreadyExists
                }
                let after = try #require(try FileSystem.status(path))
                #expect(after.st_ino == before.st_ino)
                #expect(try await coordinator.groups() == ["g1"])
                try await coordinator.deleteGroup("g1")
                #expect(try await coordinator.groups() == [])
                #expect(try FileSystem.status(root + "/groups/a46e558d11cb2400bab09c1ca969e615142ef3d6") == nil)
                await #expect { try await coordinator.deleteGroup("g1") } throws: { error in
                    (error as? ToozError)?.code == .groupNotCreated
                }
            }
        }
    }
}

/// Bytes written by Python tooz 9.1.0 (`tooz.utils.dumps`, as its file driver writes them),
/// generated once and embedded.
enum PythonFixtures {
    /// `datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)`
    static let joinedOn = OsloDateTime(year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: 678_901)
    /// `{'weight': 2, 'name': 'worker', 'raw': b'\x00\xff', 'ratio': 0.5, 'neg': -7,
    ///   'flags': [True, False, None], 'nested': {'a': [1, 2]}}`
    static let capabilities: Capabilities = [
        "weight": 2, "name": "worker", "raw": .binary([0x00, 0xff]), "ratio": 0.5, "neg": -7,
        "flags": [true, false, nil], "nested": ["a": [1, 2]],
    ]
    /// `{'group_id': b'g1', 'encoded': False}`: what `create_group(b'g1')` writes.
    static let metadataG1 = bytes(hex: "82a867726f75705f6964c4026731a7656e636f646564c2")
    /// `{'group_id': b'gs', 'encoded': True}`: what `create_group('gs')` (a str id) writes.
    static let metadataStrGS = bytes(hex: "82a867726f75705f6964c4026773a7656e636f646564c3")
    /// `{'group_id': 'old-group'}` with a bin key: a file from tooz before 1.36.
    static let metadataOld = bytes(hex: "81c40867726f75705f6964a96f6c642d67726f7570")
    /// `join_group` of `b'member-1'` without capabilities.
    static let memberNone = bytes(
        hex: "84ac6361706162696c6974696573c0a96a6f696e65645f6f6ec73c0187a364617902a56d6f6e746801a479656172cd07e8"
            + "a4686f757203a66d696e75746504a67365636f6e6405ab6d6963726f7365636f6e64ce000a5bf5a96d656d6265725f6964"
            + "c4086d656d6265722d31a7656e636f646564c2"
    )
    /// `join_group` of `b'member-1'` with ``capabilities``.
    static let memberCapabilities = bytes(
        hex: "84ac6361706162696c697469657387a677656967687402a46e616d65a6776f726b6572a3726177c40200ffa5726174696f"
            + "cb3fe0000000000000a36e6567f9a5666c61677393c3c2c0a66e657374656481a161920102a96a6f696e65645f6f6ec73c"
            + "0187a364617902a56d6f6e746801a479656172cd07e8a4686f757203a66d696e75746504a67365636f6e6405ab6d696372"
            + "6f7365636f6e64ce000a5bf5a96d656d6265725f6964c4086d656d6265722d31a7656e636f646564c2"
    )
    /// `join_group` of the str member id `'member-s'`: `encoded` is True.
    static let memberStrEncoded = bytes(
        hex: "84ac6361706162696c6974696573c0a96a6f696e65645f6f6ec73c0187a364617902a56d6f6e746801a479656172cd07e8"
            + "a4686f757203a66d696e75746504a67365636f6e6405ab6d6963726f7365636f6e64ce000a5bf5a96d656d6265725f6964"
            + "c4086d656d6265722d73a7656e636f646564c3"
    )
    /// `{b'capabilities': {'x': 1}, b'joined_on': …, b'member_id': 'old-member'}`: bin keys, a str
    /// id and no `encoded`, as tooz before 1.36 wrote.
    static let memberOld = bytes(
        hex: "83c40c6361706162696c697469657381a17801c4096a6f696e65645f6f6ec73c0187a364617902a56d6f6e746801a47965"
            + "6172cd07e8a4686f757203a66d696e75746504a67365636f6e6405ab6d6963726f7365636f6e64ce000a5bf5c4096d656d"
            + "6265725f6964aa6f6c642d6d656d626572"
    )

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { index in
            UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!
        }
    }
}

/// Runs `body` with a fresh directory under /tmp and removes it afterwards, whatever happens.
func withFileDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
    var template = Array("/tmp/swift-tooz-file-test-XXXXXX".utf8CString)
    let path = try template.withUnsafeMutableBufferPointer { buffer in
        guard let made = mkdtemp(buffer.baseAddress!) else {
            throw ToozError(.backendError, "mkdtemp failed: errno \(errno)")
        }
        return String(cString: made)
    }
    defer { try? FileSystem.removeTree(path) }
    return try await body(path)
}
