import Synchronization

/// A held lock or leadership: its fencing token and its observable ``LeaseState``.
///
/// Obtained from ``ToozLock/acquire(wait:)``, ``Coordinator/campaign(for:)`` or handed to the
/// body of ``Coordinator/withLock(named:wait:body:)`` and ``Coordinator/withLeadership(of:body:)``.
/// The coordinator's ``Coordinator/run()`` renews it; when renewal fails it turns ``LeaseState/uncertain``
/// and, at its safe deadline, ``LeaseState/lost(_:)``.
public final class Lease: Sendable {
    /// What is held.
    public let key: LockKey
    /// Grows strictly with every acquisition of ``key`` on this backend.
    public var fencingToken: FencingToken { grant.fencingToken }
    /// The member holding it (this coordinator's member).
    public var member: MemberID { grant.owner.member }

    package let grant: LockGrant
    package let ttl: Duration
    /// When the acquire request that succeeded was sent, on the coordinator's clock.
    package let acquiredAt: Duration
    private let coordinator: Coordinator

    package let cell: LeaseCell
    private let scoped = Atomic<Bool>(false)

    package init(
        key: LockKey, grant: LockGrant, ttl: Duration, acquiredAt: Duration, machine: LeaseStateMachine,
        coordinator: Coordinator
    ) {
        self.key = key
        self.grant = grant
        self.ttl = ttl
        self.acquiredAt = acquiredAt
        self.coordinator = coordinator
        self.cell = LeaseCell(machine)
    }

    /// The current state.
    public var state: LeaseState { cell.state }

    /// The current state, then every change. Finishes after ``LeaseState/lost(_:)`` or ``LeaseState/released``.
    public var states: AsyncStream<LeaseState> { cell.states() }

    /// Releases the lock or leadership. Returns `false` when it was no longer ours
    /// (tooz: `Lock.release`). Releasing twice returns `false` the second time.
    @discardableResult
    public func release() async throws -> Bool {
        try await coordinator.release(self)
    }

    /// Returns once the lease is lost or released.
    package func waitUntilUnusable() async {
        for await state in states where !state.isUsable { return }
    }

    package var machine: LeaseStateMachine { cell.machine }

    package var isScoped: Bool {
        get { scoped.load(ordering: .relaxed) }
        set { scoped.store(newValue, ordering: .relaxed) }
    }

    /// Applies one state-machine step and tells observers when the state changed.
    @discardableResult
    package func update(_ step: (inout LeaseStateMachine) -> LeaseState?) -> LeaseState? {
        cell.update(step)
    }
}

extension Lease: CustomStringConvertible {
    public var description: String { "Lease(\(key), token \(fencingToken), \(state))" }
}
