/// The state of a group at one moment: its live members with capabilities, and its leader.
public struct GroupSnapshot: Sendable, Hashable {
    public var group: GroupID
    public var members: [MemberID: Capabilities]
    /// `nil` when nobody leads, or when the backend cannot tell who leads.
    public var leader: MemberID?

    public init(group: GroupID, members: [MemberID: Capabilities], leader: MemberID?) {
        self.group = group
        self.members = members
        self.leader = leader
    }
}

/// What ``Coordinator/events(in:)`` yields. tooz: `MemberJoinedGroup`, `MemberLeftGroup`,
/// `LeaderElected`, delivered without `run_watchers()`.
public enum GroupEvent: Sendable, Hashable, CustomStringConvertible {
    /// The first element of every event sequence: the group as it is now.
    case snapshot(GroupSnapshot)
    case joined(MemberID, capabilities: Capabilities)
    case left(MemberID)
    case capabilitiesChanged(MemberID, capabilities: Capabilities)
    /// The leader changed; `nil` when nobody leads any more.
    case leaderChanged(MemberID?)
    /// This member's own membership of the group changed state (uncertain, lost, joined again).
    case membershipChanged(MembershipState)

    public var description: String {
        switch self {
        case .snapshot(let snapshot):
            let members = snapshot.members.keys.sorted().map(\.rawValue).joined(separator: ", ")
            return "snapshot members=[\(members)] leader=\(snapshot.leader?.rawValue ?? "none")"
        case .joined(let member, _): return "joined \(member)"
        case .left(let member): return "left \(member)"
        case .capabilitiesChanged(let member, _): return "capabilities \(member)"
        case .leaderChanged(let member): return "leader \(member?.rawValue ?? "none")"
        case .membershipChanged(let state): return "own membership \(state)"
        }
    }
}

/// Turns two snapshots into the events between them. Pure; order: leaves, joins, capability
/// changes (each by member id), then the leader.
package enum MembershipDiff {
    package static func events(from old: GroupSnapshot, to new: GroupSnapshot) -> [GroupEvent] {
        var events: [GroupEvent] = []
        for member in old.members.keys.sorted() where new.members[member] == nil {
            events.append(.left(member))
        }
        for member in new.members.keys.sorted() {
            let capabilities = new.members[member]!
            if let previous = old.members[member] {
                if previous != capabilities { events.append(.capabilitiesChanged(member, capabilities: capabilities)) }
            } else {
                events.append(.joined(member, capabilities: capabilities))
            }
        }
        if old.leader != new.leader { events.append(.leaderChanged(new.leader)) }
        return events
    }
}
