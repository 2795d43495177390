import Synchronization

/// A ``LeaseStateMachine`` behind a lock, with the streams that observe its state. Shared by
/// ``Lease`` and ``Membership``.
package final class LeaseCell: Sendable {
    private struct Inner {
        var machine: LeaseStateMachine
        var nextObserverID = 0
        var observers: [Int: AsyncStream<LeaseState>.Continuation] = [:]
    }

    private let inner: Mutex<Inner>

    package init(_ machine: LeaseStateMachine) {
        inner = Mutex(Inner(machine: machine))
    }

    package var state: LeaseState { inner.withLock { $0.machine.state } }
    package var machine: LeaseStateMachine { inner.withLock { $0.machine } }

    /// The current state, then every change; finishes after a final state (lost or released)
    /// unless `untilFinal` is `false` (memberships come back from lost).
    package func states(untilFinal: Bool = true) -> AsyncStream<LeaseState> {
        let (stream, continuation) = AsyncStream<LeaseState>.makeStream(bufferingPolicy: .unbounded)
        let id = inner.withLock { inner -> Int? in
            continuation.yield(inner.machine.state)
            if untilFinal, !inner.machine.state.isUsable { return nil }
            if inner.machine.state == .released { return nil }
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

    /// Changes the machine without a state change to report (scheduling only).
    package func schedule<T>(_ body: (inout LeaseStateMachine) -> T) -> T {
        inner.withLock { body(&$0.machine) }
    }

    /// Applies one state-machine step and tells observers when the state changed. With
    /// `finishOn`, observers are finished when the new state matches it.
    @discardableResult
    package func update(
        finishWhen isFinal: (LeaseState) -> Bool = { !$0.isUsable },
        _ step: (inout LeaseStateMachine) -> LeaseState?
    ) -> LeaseState? {
        let (change, observers) = inner.withLock { inner -> (LeaseState?, [AsyncStream<LeaseState>.Continuation]) in
            guard let change = step(&inner.machine) else { return (nil, []) }
            let observers = Array(inner.observers.values)
            if isFinal(change) { inner.observers.removeAll() }
            return (change, observers)
        }
        guard let change else { return nil }
        for observer in observers {
            observer.yield(change)
            if isFinal(change) { observer.finish() }
        }
        return change
    }
}
