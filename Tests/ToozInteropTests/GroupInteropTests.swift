import Testing
import ToozBackends

/// Python tooz 9.1.0 and swift-tooz members in one file:// group see each other and each
/// other's capabilities exactly, whichever side created the group.
@Suite("Interop: groups with Python tooz", .requiresPythonTooz, .timeLimit(.minutes(3)))
struct GroupInteropTests {
    enum Creator: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case swift, python
        var testDescription: String { "\(rawValue) creates the group" }
    }

    /// What the Python member publishes, in Python's terms…
    static let pythonCapabilitiesLiteral = "{'weight': 3, 'name': 'py', 'tags': ['a', 'b'], 'blob': b'\\x00\\x01'}"
    /// …and what that must be on the Swift side: bytes stay bytes, text stays text, order kept.
    static let pythonCapabilities: Capabilities = .map([
        MessagePackMapEntry("weight", .int(3)),
        MessagePackMapEntry("name", .string("py")),
        MessagePackMapEntry("tags", .array([.string("a"), .string("b")])),
        MessagePackMapEntry("blob", .binary([0x00, 0x01])),
    ])

    /// What the Swift member publishes…
    static let swiftCapabilities: Capabilities = .map([
        MessagePackMapEntry("weight", .int(2)),
        MessagePackMapEntry("name", .string("swift-ünï")),
        MessagePackMapEntry("tags", .array([.string("x"), .int(-7), .nil, .bool(true)])),
        MessagePackMapEntry("blob", .binary([0xFF, 0x00, 0x80])),
        MessagePackMapEntry("ratio", .double(0.5)),
        MessagePackMapEntry("nested", .map([MessagePackMapEntry("big", .int(1 << 40))])),
    ])
    /// …and how Python must see it.
    static let swiftCapabilitiesRepr =
        "{'weight': 2, 'name': 'swift-ünï', 'tags': ['x', -7, None, True], 'blob': b'\\xff\\x00\\x80', 'ratio': 0.5, 'nested': {'big': 1099511627776}}"

    @Test("Swift and Python members see each other and each other's capabilities", arguments: Creator.allCases)
    func membersAndCapabilities(creator: Creator) async throws {
        try await TemporaryDirectory.with("groups") { directory in
            let url = directory.steadyFileURL
            let group = uniqueName("group")
            let swiftMember = uniqueName("swift")
            let pythonMember = uniqueName("py")
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: pythonMember)
                let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
                try await coordinator.withRunning {
                    switch creator {
                    case .swift:
                        try await coordinator.createGroup(GroupID(group))
                        try await coordinator.join(GroupID(group), capabilities: Self.swiftCapabilities)
                        try await python.joinGroup(group, capabilitiesLiteral: Self.pythonCapabilitiesLiteral)
                    case .python:
                        try await python.createGroup(group)
                        try await python.joinGroup(group, capabilitiesLiteral: Self.pythonCapabilitiesLiteral)
                        try await coordinator.join(GroupID(group), capabilities: Self.swiftCapabilities)
                    }

                    // Swift's view.
                    let seenBySwift = try await coordinator.membersWithCapabilities(of: GroupID(group))
                    #expect(Set(seenBySwift.keys) == [MemberID(swiftMember), MemberID(pythonMember)])
                    #expect(seenBySwift[MemberID(pythonMember)] == Self.pythonCapabilities)
                    #expect(seenBySwift[MemberID(swiftMember)] == Self.swiftCapabilities)
                    #expect(try await coordinator.capabilities(of: MemberID(pythonMember), in: GroupID(group)) == Self.pythonCapabilities)
                    #expect(try await coordinator.groups().contains(GroupID(group)))

                    // Python's view.
                    #expect(try await python.members(of: group) == [swiftMember, pythonMember])
                    let swiftSeenByPython = try await python.capabilities(of: swiftMember, in: group)
                    #expect(swiftSeenByPython.repr == Self.swiftCapabilitiesRepr)
                    #expect(swiftSeenByPython.value == Self.swiftCapabilities)
                    let allSeenByPython = try await python.membersWithCapabilities(of: group)
                    #expect(Set(allSeenByPython.keys) == [swiftMember, pythonMember])
                    #expect(allSeenByPython[pythonMember]?.repr == Self.pythonCapabilitiesLiteral)
                    #expect(allSeenByPython[swiftMember]?.repr == Self.swiftCapabilitiesRepr)
                    #expect(try await python.call("get_groups").strings?.contains(group) == true)

                    // Leaving shows on the other side, both ways.
                    try await coordinator.leave(GroupID(group))
                    #expect(try await python.members(of: group) == [pythonMember])
                    try await coordinator.join(GroupID(group), capabilities: Self.swiftCapabilities)
                    try await python.leaveGroup(group)
                    #expect(try await coordinator.members(of: GroupID(group)) == [MemberID(swiftMember)])
                    try await coordinator.leave(GroupID(group))
                }
            }
        }
    }

    @Test("A member that joined without capabilities is None on both sides")
    func noCapabilities() async throws {
        try await TemporaryDirectory.with("nocaps") { directory in
            let url = directory.steadyFileURL
            let group = uniqueName("group")
            let swiftMember = uniqueName("swift")
            let pythonMember = uniqueName("py")
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: pythonMember)
                let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
                try await coordinator.withRunning {
                    try await coordinator.createGroup(GroupID(group))
                    try await coordinator.join(GroupID(group))
                    try await python.joinGroup(group, capabilitiesLiteral: nil)
                    #expect(try await coordinator.capabilities(of: MemberID(pythonMember), in: GroupID(group)) == .nil)
                    let seen = try await python.capabilities(of: swiftMember, in: group)
                    #expect(seen.repr == "None")
                    #expect(seen.value == .nil)
                    try await python.leaveGroup(group)
                    try await coordinator.leave(GroupID(group))
                    // tooz's delete_group refuses a non-empty group, so this also proves both left.
                    try await python.call("delete_group", ["group": .string(group)])
                    #expect(try await !coordinator.groups().contains(GroupID(group)))
                }
            }
        }
    }
}
