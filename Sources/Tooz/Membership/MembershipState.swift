/// The state of this member's membership of a group: a lease like a lock's.
public enum MembershipState: Sendable, Hashable, CustomStringConvertible {
    /// Joined, and the last heartbeat proved it.
    case joined
    /// A heartbeat failed or has not answered, or the backend reported its connection down; the
    /// other members may still see us until the membership's safe deadline.
    case uncertain
    /// Others may have seen us leave: the deadline passed without a heartbeat, the backend's
    /// session ended, or the record is gone. The coordinator re-joins as soon as the backend
    /// answers, with the capabilities it holds, and the state turns `joined` again.
    case lost(LeaseLossReason)
    /// Left on purpose (``Coordinator/leave(_:)`` or shutdown). Final.
    case left

    /// Whether the other members can be expected to see us (`joined` or `uncertain`).
    public var isActive: Bool {
        switch self {
        case .joined, .uncertain: true
        case .lost, .left: false
        }
    }

    init(_ state: LeaseState) {
        switch state {
        case .held: self = .joined
        case .uncertain: self = .uncertain
        case .lost(let reason): self = .lost(reason)
        case .released: self = .left
        }
    }

    public var description: String {
        switch self {
        case .joined: "joined"
        case .uncertain: "uncertain"
        case .lost(let reason): "lost (\(reason))"
        case .left: "left"
        }
    }
}
