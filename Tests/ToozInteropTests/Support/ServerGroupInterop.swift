import Testing
import ToozBackends

/// The groups scenario every server backend's interop suite runs first, whichever side
/// created the group: both sides see both members and their capabilities exactly, updates
/// show on the other side both ways, and so do leaves. It ends with only the Swift member in
/// the group.
enum ServerGroupInterop {
    enum Creator: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case swift, python
        var testDescription: String { "\(rawValue) creates the group" }
    }

    /// What the Swift member changes its capabilities to…
    static let updatedSwiftCapabilities: Capabilities = .map([
        MessagePackMapEntry("weight", .int(5)),
        MessagePackMapEntry("state", .string("draining")),
        MessagePackMapEntry("blob", .binary([0x7F])),
    ])
    /// …and how Python must see it.
    static let updatedSwiftCapabilitiesRepr = "{'weight': 5, 'state': 'draining', 'blob': b'\\x7f'}"

    /// What the Python member changes its capabilities to, in Python's terms…
    static let updatedPythonCapabilitiesLiteral = "{'weight': 4, 'zone': 'eu-1', 'ready': True, 'ratio': 0.25, 'none': None}"
    /// …and what that must be on the Swift side.
    static let updatedPythonCapabilities: Capabilities = .map([
        MessagePackMapEntry("weight", .int(4)),
        MessagePackMapEntry("zone", .string("eu-1")),
        MessagePackMapEntry("ready", .bool(true)),
        MessagePackMapEntry("ratio", .double(0.25)),
        MessagePackMapEntry("none", .nil),
    ])

    static func membersCapabilitiesUpdatesAndLeaves(
        creator: Creator,
        coordinator: Coordinator,
        python: PythonPeer,
        group: String,
        swiftMember: String,
        pythonMember: String
    ) async throws {
        let g = GroupID(group)
        switch creator {
        case .swift:
            try await coordinator.createGroup(g)
            // Python lists a group that Swift created before anyone joined it.
            #expect(try await python.groups().contains(group))
            try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
            try await python.joinGroup(group, capabilitiesLiteral: GroupInteropTests.pythonCapabilitiesLiteral)
        case .python:
            try await python.createGroup(group)
            #expect(try await coordinator.groups().contains(g))
            try await python.joinGroup(group, capabilitiesLiteral: GroupInteropTests.pythonCapabilitiesLiteral)
            try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
        }
        #expect(try await coordinator.groups().contains(g))
        #expect(try await python.groups().contains(group))

        // Swift's view.
        let seenBySwift = try await coordinator.membersWithCapabilities(of: g)
        #expect(Set(seenBySwift.keys) == [MemberID(swiftMember), MemberID(pythonMember)])
        #expect(seenBySwift[MemberID(pythonMember)] == GroupInteropTests.pythonCapabilities)
        #expect(seenBySwift[MemberID(swiftMember)] == GroupInteropTests.swiftCapabilities)
        #expect(try await coordinator.capabilities(of: MemberID(pythonMember), in: g) == GroupInteropTests.pythonCapabilities)

        // Python's view.
        #expect(try await python.members(of: group) == [swiftMember, pythonMember])
        let swiftSeenByPython = try await python.capabilities(of: swiftMember, in: group)
        #expect(swiftSeenByPython.repr == GroupInteropTests.swiftCapabilitiesRepr)
        #expect(swiftSeenByPython.value == GroupInteropTests.swiftCapabilities)
        let allSeenByPython = try await python.membersWithCapabilities(of: group)
        #expect(Set(allSeenByPython.keys) == [swiftMember, pythonMember])
        #expect(allSeenByPython[pythonMember]?.repr == GroupInteropTests.pythonCapabilitiesLiteral)
        #expect(allSeenByPython[swiftMember]?.repr == GroupInteropTests.swiftCapabilitiesRepr)

        // Updates show on the other side, both ways.
        try await coordinator.updateCapabilities(ServerGroupInterop.updatedSwiftCapabilities, in: g)
        let updatedSwift = try await python.capabilities(of: swiftMember, in: group)
        #expect(updatedSwift.repr == ServerGroupInterop.updatedSwiftCapabilitiesRepr)
        #expect(updatedSwift.value == ServerGroupInterop.updatedSwiftCapabilities)
        try await python.updateCapabilities(group, capabilitiesLiteral: ServerGroupInterop.updatedPythonCapabilitiesLiteral)
        #expect(try await coordinator.capabilities(of: MemberID(pythonMember), in: g) == ServerGroupInterop.updatedPythonCapabilities)
        let afterUpdates = try await coordinator.membersWithCapabilities(of: g)
        #expect(afterUpdates[MemberID(pythonMember)] == ServerGroupInterop.updatedPythonCapabilities)
        #expect(afterUpdates[MemberID(swiftMember)] == ServerGroupInterop.updatedSwiftCapabilities)

        // Leaving shows on the other side, both ways.
        try await coordinator.leave(g)
        #expect(try await python.members(of: group) == [pythonMember])
        try await coordinator.join(g, capabilities: GroupInteropTests.swiftCapabilities)
        #expect(try await python.members(of: group) == [swiftMember, pythonMember])
        try await python.leaveGroup(group)
        #expect(try await coordinator.members(of: g) == [MemberID(swiftMember)])
    }
}
