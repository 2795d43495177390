import Testing

@testable import Tooz

@Suite struct MembershipDiffTests {
    @Test func diffOrdersLeavesJoinsChangesThenLeader() {
        let old = GroupSnapshot(group: "g", members: ["a": .nil, "b": ["weight": 1], "c": .nil], leader: "a")
        let new = GroupSnapshot(group: "g", members: ["b": ["weight": 2], "c": .nil, "d": "x"], leader: "b")
        #expect(
            MembershipDiff.events(from: old, to: new) == [
                .left("a"),
                .capabilitiesChanged("b", capabilities: ["weight": 2]),
                .joined("d", capabilities: "x"),
                .leaderChanged("b"),
            ]
        )
    }

    @Test func identicalSnapshotsYieldNothing() {
        let snapshot = GroupSnapshot(group: "g", members: ["a": .nil], leader: nil)
        #expect(MembershipDiff.events(from: snapshot, to: snapshot).isEmpty)
    }

    @Test func leaderGoneIsReported() {
        let old = GroupSnapshot(group: "g", members: [:], leader: "a")
        let new = GroupSnapshot(group: "g", members: [:], leader: nil)
        #expect(MembershipDiff.events(from: old, to: new) == [.leaderChanged(nil)])
    }
}
