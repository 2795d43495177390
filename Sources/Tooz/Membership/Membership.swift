import Synchronization

/// This member's membership of one group, kept alive by the coordinator's heartbeat.
///
/// Obtained from ``Coordinator/membership(in:)`` after ``Coordinator/join(_:capabilities:)``.
/// Its ``state`` follows heartbeats and what the backend reports; after a loss the coordinator
/// re-joins with ``capabilities``, the last ones this member published.
public final class Membership: Sendable {
    /// The group.
    public let group: GroupID
    package let cell: LeaseCell
    private let published: Mutex<Capabilities>

    package init(group: GroupID, capabilities: Capabilities, machine: LeaseStateMachine) {
        self.group = group
        self.cell = LeaseCell(machine)
        self.published = Mutex(capabilities)
    }

    /// The current state.
    public var state: MembershipState { MembershipState(cell.state) }

    /// The current state, then every change, until the member leaves the group.
    public var states: AsyncMapSequence<AsyncStream<LeaseState>, MembershipState> {
        cell.states(untilFinal: false).map { MembershipState($0) }
    }

    /// The capabilities this member last published in the group; what a re-join publishes.
    public var capabilities: Capabilities {
        get { published.withLock { $0 } }
    }

    package func publish(_ capabilities: Capabilities) {
        published.withLock { $0 = capabilities }
    }

    /// Applies one state-machine step; observers finish only when the member has left.
    @discardableResult
    package func update(_ step: (inout LeaseStateMachine) -> LeaseState?) -> LeaseState? {
        cell.update(finishWhen: { $0 == .released }, step)
    }
}

extension Membership: CustomStringConvertible {
    public var description: String { "Membership(\(group), \(state))" }
}
