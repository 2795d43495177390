import Synchronization
import Logging
/// How long an acquisition may wait for a busy lock or leadership.
public enum LockWait: Sendable, Hashable {
    /// Wait until it is free. tooz: `blocking=True`.
    case forever
    /// Try once. tooz: `blocking=False`.
    case never
    /// Wait at most this long. tooz: `blocking=<seconds>`.
    case upTo(Duration)

    /// Wait at most `seconds`.
    public static func seconds(_ seconds: Int64) -> LockWait { .upTo(.seconds(seconds)) }
    /// Wait at most `milliseconds`.
    public static func milliseconds(_ milliseconds: Int64) -> LockWait { .upTo(.milliseconds(milliseconds)) }
}

/// A distributed lock by name. Getting one does no I/O; acquiring it returns a ``Lease``.
/// tooz: the object returned by `get_lock(name)`.
///
/// Locks are not re-entrant: acquiring a lock object that already holds its lock throws
/// `lockAlreadyHeld`, and two lock objects for the same name exclude each other, even on one
/// coordinator.
public final class ToozLock: Sendable {
    /// The lock's name.
    public let name: LockName
    private let coordinator: Coordinator
    private let current = Mutex<Lease?>(nil)

    package init(name: LockName, coordinator: Coordinator) {
        self.name = name
        self.coordinator = coordinator
    }

    /// The lease while this object holds the lock.
    public var lease: Lease? {
        current.withLock { lease in
            if let held = lease, !held.state.isUsable, held.state == .released { lease = nil }
            return lease
        }
    }

    /// Acquires the lock. tooz: `acquire(blocking=…)`.
    ///
    /// - Throws: `lockBusy` when it stayed busy for the whole wait; `lockAlreadyHeld` when this
    ///   object (or, inside `withLock`, the calling task tree) already holds it.
    @discardableResult
    public func acquire(wait: LockWait = .forever) async throws -> Lease {
        if let held = current.withLock({ $0 }), held.state.isUsable {
            throw ToozError(.lockAlreadyHeld, "this lock object already holds lock \(name.rawValue.debugDescription); locks are not re-entrant")
        }
        let lease = try await coordinator.acquire(.lock(name), wait: wait, ttl: coordinator.configuration.lockTTL)
        current.withLock { $0 = lease }
        return lease
    }

    /// One attempt; `nil` when the lock is busy. tooz: `acquire(blocking=False)`.
    public func tryAcquire() async throws -> Lease? {
        do {
            return try await acquire(wait: .never)
        } catch let error as ToozError where error.code == .lockBusy || error.code == .lockAlreadyHeld {
            return nil
        }
    }

    /// Releases the lock. Returns `false` when this object did not hold it, or it was no longer
    /// ours. tooz: `release()`.
    @discardableResult
    public func release() async throws -> Bool {
        guard let lease = current.withLock({ lease -> Lease? in
            defer { lease = nil }
            return lease
        }) else { return false }
        return try await coordinator.release(lease)
    }

    /// Who holds the lock now, when the backend can tell.
    public func holder() async throws -> MemberID? {
        try await coordinator.holder(of: .lock(name))
    }

    /// Forcibly removes whoever holds the lock. tooz: `break_()`.
    @discardableResult
    public func breakLock() async throws -> Bool {
        try await coordinator.breakLock(.lock(name))
    }
}


extension Coordinator {
    /// Locks held by the current task tree, to turn a re-entrant acquisition into an error
    /// instead of a deadlock.
    @TaskLocal package static var heldLocks: Set<HeldLock> = []

    package struct HeldLock: Hashable, Sendable {
        let coordinator: ObjectIdentifier
        let key: LockKey
    }

    /// A lock object for `name`. No I/O. tooz: `get_lock(name)`.
    ///
    /// - Throws: `invalidArgument` for a name the backend cannot store; `notImplemented` when
    ///   the backend has no locks.
    public func lock(named name: LockName) throws(ToozError) -> ToozLock {
        try requireFeature(.locks, "locks")
        try info.nameRules.validate(name.rawValue, as: .lock)
        return ToozLock(name: name, coordinator: self)
    }

    /// Acquires `name`, runs `body` while holding it, and releases it after `body` has finished.
    ///
    /// If the lease is lost while `body` runs, `body` is cancelled; once it returns, the lock is
    /// released and `withLock` throws `leaseLost`.
    ///
    /// - Throws: `lockBusy` when the lock stayed busy for the whole `wait`; `lockAlreadyHeld`
    ///   when the calling task tree already holds it; `leaseLost`; whatever `body` throws.
    public func withLock<Result: Sendable>(
        named name: LockName,
        wait: LockWait = .forever,
        body: @Sendable (Lease) async throws -> Result
    ) async throws -> Result {
        _ = try lock(named: name)
        let lease = try await acquire(.lock(name), wait: wait, ttl: configuration.lockTTL)
        return try await runScoped(lease, body: body)
    }

    /// Takes `key`, waiting as `wait` allows.
    package func acquire(_ key: LockKey, wait: LockWait, ttl: Duration) async throws -> Lease {
        // Without an executor of its own (local backends) there is nowhere better to run.
        guard let executor = backend.taskExecutor else { return try await acquireHere(key, wait: wait, ttl: ttl) }
        return try await withTaskExecutorPreference(executor) {
            try await acquireHere(key, wait: wait, ttl: ttl)
        }
    }

    private func acquireHere(_ key: LockKey, wait: LockWait, ttl: Duration) async throws -> Lease {
        if !isRunningNow { try await waitUntilRunning() }
        let heldHere = Coordinator.heldLocks
        if !heldHere.isEmpty, heldHere.contains(HeldLock(coordinator: ObjectIdentifier(self), key: key)) {
            throw ToozError(.lockAlreadyHeld, "this task already holds the \(key); locks are not re-entrant")
        }
        let started = clock.now()
        let deadline: Duration? =
            switch wait {
            case .forever: nil
            case .never: started
            case .upTo(let limit): started + limit
            }
        // One owner for the whole wait, so that a backend that queues waiters keeps our place.
        var request = AcquireRequest(
            key: key, owner: LockOwner(member: member), ttl: ttl, deadline: deadline, clock: clock,
            pollInterval: configuration.lockPollInterval
        )
        request.startedAt = started
        var staleGrants = 0
        var grant: LockGrant
        var machine: LeaseStateMachine
        var sentAt: Duration
        while true {
            let answer: LockGrant?
            do {
                answer = try await backend.acquire(request)
            } catch let error as CancellationError {
                throw error
            } catch {
                throw ToozError.wrap(error, "could not acquire the \(key) on the \(info.name) backend")
            }
            guard let answer else {
                metrics.lockBusy(key)
                let waited = wait == .never ? "" : " after waiting \(clock.now() - started)"
                throw ToozError(.lockBusy, "the \(key) is held by someone else\(waited)")
            }
            grant = answer
            sentAt = grant.validFrom ?? started
            let leaseTTL = grant.ttl ?? ttl
            let ttlForMachine: Duration? = info.leaseKind == .ttl ? leaseTTL : nil
            machine = LeaseStateMachine(sentAt: sentAt, ttl: ttlForMachine, timing: timing(for: leaseTTL))
            // A grant whose lease ran out before its answer reached us (an answer held up by the
            // network, a starved process) may already have been handed on by the store: no body
            // may run on it. Let it go (the backend releases only what is still ours) and ask
            // again, at least once, and for as long as the wait allows.
            guard let safeDeadline = machine.safeDeadline, clock.now() >= safeDeadline else { break }
            staleGrants += 1
            logger.warning(
                "a grant arrived after its lease had run out; releasing it and acquiring again",
                metadata: ["tooz_lock": "\(key)", "tooz_fencing_token": "\(grant.fencingToken)"]
            )
            _ = try? await backend.release(key, grant: grant)
            if staleGrants >= 2, let deadline, clock.now() >= deadline {
                metrics.lockBusy(key)
                throw ToozError(.lockBusy, "every grant of the \(key) arrived after its lease had run out (the network is slower than the lease TTL)")
            }
        }
        let lease = Lease(key: key, grant: grant, ttl: ttl, acquiredAt: sentAt, machine: machine, coordinator: self)
        register(lease)
        metrics.lockAcquired(key, startedAt: started, clock: clock)
        if case .leadership = key { metrics.leadershipChanged() }
        logger.debug("acquired", metadata: ["tooz_lock": "\(key)", "tooz_fencing_token": "\(grant.fencingToken)"])
        return lease
    }

    /// The timing of a lease with `ttl`: the configured lock or leader TTL's, derived once, or
    /// derived now for another (a ZooKeeper session timeout, an explicit TTL).
    private func timing(for ttl: Duration) -> LeaseTiming {
        if ttl == lockTiming.ttl { return lockTiming }
        if ttl == leaderTiming.ttl { return leaderTiming }
        return LeaseTiming(ttl: ttl, configuration: configuration)
    }

    /// Runs `body` as a child task while `lease` is usable; cancels it when the lease is lost;
    /// releases the lease only after `body` has finished.
    package func runScoped<Result: Sendable>(
        _ lease: Lease,
        body: @Sendable (Lease) async throws -> Result
    ) async throws -> Result {
        lease.isScoped = true
        let held = HeldLock(coordinator: ObjectIdentifier(self), key: lease.key)
        let outcome: Swift.Result<Result, any Error> = await withoutActuallyEscaping(body) { body in
            await Coordinator.$heldLocks.withValue(Coordinator.heldLocks.union([held])) {
                await withTaskGroup(of: ScopedOutcome<Result>.self) { group in
                    group.addTask {
                        do { return .body(.success(try await body(lease))) } catch { return .body(.failure(error)) }
                    }
                    group.addTask {
                        await lease.waitUntilUnusable()
                        return lease.state.isUsable ? .watchStopped : .leaseEnded
                    }
                    var result: Swift.Result<Result, any Error>?
                    while let next = await group.next() {
                        switch next {
                        case .body(let bodyResult):
                            result = bodyResult
                            group.cancelAll()
                        case .leaseEnded:
                            group.cancelAll()
                        case .watchStopped:
                            break
                        }
                    }
                    return result!
                }
            }
        }
        let finalState = lease.state
        do {
            _ = try await release(lease)
        } catch {
            logger.debug("release after scoped body failed", metadata: ["tooz_lock": "\(lease.key)", "error": "\(error)"])
            if finalState.isUsable, case .success = outcome { throw error }
        }
        if case .lost(let reason) = finalState {
            var underlying: (any Error)?
            if case .failure(let error) = outcome, !(error is CancellationError) { underlying = error }
            throw ToozError(.leaseLost, "the \(lease.key) was lost (\(reason)) while its body ran", underlying: underlying)
        }
        return try outcome.get()
    }

    package enum ScopedOutcome<Value: Sendable>: Sendable {
        case body(Swift.Result<Value, any Error>)
        case leaseEnded
        case watchStopped
    }

    package func holder(of key: LockKey) async throws -> MemberID? {
        try await waitUntilRunning()
        do {
            return try await backend.holder(of: key)
        } catch {
            throw ToozError.wrap(error, "could not read the holder of the \(key) on the \(info.name) backend")
        }
    }

    package func breakLock(_ key: LockKey) async throws -> Bool {
        try requireFeature(.breakLock, "breaking locks")
        try await waitUntilRunning()
        do {
            return try await backend.breakLock(key)
        } catch {
            throw ToozError.wrap(error, "could not break the \(key) on the \(info.name) backend")
        }
    }

    package func requireFeature(_ feature: BackendFeatures, _ name: String) throws(ToozError) {
        guard info.features.contains(feature) else { throw ToozError.notImplemented(name, backend: info.name) }
    }
}
