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

    private struct Inner {
        var machine: LeaseStateMachine
        var nextObserverID = 0
        var observers: [Int: AsyncStream<LeaseState>.Continuation] = [:]
        var isScoped = false
    }

    private let inner: Mutex<Inner>

    package init(
        key: LockKey, grant: LockGrant, ttl: Duration, acquiredAt: Duration, machine: LeaseStateMachine,
        coordinator: Coordinator
    ) {
        self.key = key
        self.grant = grant
        self.ttl = ttl
        self.acquiredAt = acquiredAt
        self.coordinator = coordinator
        self.inner = Mutex(Inner(machine: machine))
    }

    /// The current state.
    public var state: LeaseState { inner.withLock { $0.machine.state } }

    /// The current state, then every change. Finishes after ``LeaseState/lost(_:)`` or ``LeaseState/released``.
    public var states: AsyncStream<LeaseState> {
        let (stream, continuation) = AsyncStream<LeaseState>.makeStream(bufferingPolicy: .unbounded)
        let id = inner.withLock { inner -> Int? in
            continuation.yield(inner.machine.state)
            guard inner.machine.state.isUsable else { return nil }
            inner.nextObserverID += 1
            inner.observers[inner.nextObserverID] = continuation
            return inner.nextObserverID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.inner.withLock { $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

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

    package var machine: LeaseStateMachine { inner.withLock { $0.machine } }

    package var isScoped: Bool {
        get { inner.withLock { $0.isScoped } }
        set { inner.withLock { $0.isScoped = newValue } }
    }

    /// Applies one state-machine step and tells observers when the state changed.
    @discardableResult
    package func update(_ step: (inout LeaseStateMachine) -> LeaseState?) -> LeaseState? {
        let (change, observers) = inner.withLock { inner -> (LeaseState?, [AsyncStream<LeaseState>.Continuation]) in
            guard let change = step(&inner.machine) else { return (nil, []) }
            let observers = Array(inner.observers.values)
            if !change.isUsable { inner.observers.removeAll() }
            return (change, observers)
        }
        guard let change else { return nil }
        for observer in observers {
            observer.yield(change)
            if !change.isUsable { observer.finish() }
        }
        return change
    }
}

extension Lease: CustomStringConvertible {
    public var description: String { "Lease(\(key), token \(fencingToken), \(state))" }
}
