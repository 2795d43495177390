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
    /// Every state change so far, numbered, for event streams that must report each one even
    /// when several happen between two of their reads.
    private let log = Mutex<(first: Int, changes: [MembershipState])>((0, []))

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
        let change = cell.update(finishWhen: { $0 == .released }, step)
        if let change {
            log.withLock { log in
                log.changes.append(MembershipState(change))
                // A stream that falls this far behind sees the latest changes only.
                if log.changes.count > 64 {
                    log.changes.removeFirst(32)
                    log.first += 32
                }
            }
        }
        return change
    }

    /// The changes numbered `seen` and later, and the number to pass next time.
    package func changes(since seen: Int) -> (changes: [MembershipState], next: Int) {
        log.withLock { log in
            let end = log.first + log.changes.count
            let start = max(seen, log.first)
            return (Array(log.changes[(start - log.first)...]), end)
        }
    }

    /// The number of changes so far.
    package var changeCount: Int { log.withLock { $0.first + $0.changes.count } }
}

extension Membership: CustomStringConvertible {
    public var description: String { "Membership(\(group), \(state))" }
}
