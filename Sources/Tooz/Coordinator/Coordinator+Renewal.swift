import Synchronization
import Logging
extension Coordinator {
    /// Renews every lease when its refresh is due and expires leases and memberships whose safe
    /// deadline passed. Lives in `run()`'s task group; ends when that group is cancelled.
    ///
    /// Each refresh runs as a child task of its own, raced against its lease's safe deadline,
    /// so a refresh that never answers holds back neither the other leases nor the ticks that
    /// turn this one `uncertain` and then `lost`.
    package func renewalLoop() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let seen = leasesChanged.generation
                // While the schedule is being computed, a new lease must wake us (see register).
                let (leases, memberships) = state.withLock { state in
                    state.renewalWakeUpAt = nil
                    return (Array(state.leases.values), Array(state.memberships.values))
                }
                let now = clock.now()
                for lease in leases {
                    if let change = lease.update({ $0.tick(now: now) }) {
                        noteLeaseChange(lease, change)
                    }
                    if lease.cell.schedule({ $0.startRefreshIfDue(now: now) }) {
                        group.addTask { await self.refresh(lease, sentAt: now) }
                    }
                }
                for membership in memberships {
                    if let change = membership.update({ $0.tick(now: now) }) {
                        noteMembershipChange(membership, change)
                    }
                }
                if startHandingBack() {
                    group.addTask {
                        await self.retryAbandonedReleases()
                        self.state.withLock { $0.handingBack = false }
                    }
                }
                let nextWakeUp = (leases.map(\.cell) + memberships.map(\.cell)).compactMap { $0.machine.nextWakeUp }.min()
                // An instant, not a duration: time that passes before the sleep starts (a
                // starved machine, a test's clock advance) must not push the wake-up later.
                let latest = clock.now() + configuration.eventPollInterval
                let wakeUp = min(nextWakeUp ?? latest, latest)
                state.withLock { $0.renewalWakeUpAt = wakeUp }
                do {
                    _ = try await leasesChanged.wait(since: seen, until: wakeUp, clock: clock)
                } catch {
                    return
                }
            }
        }
    }

    /// One refresh of `lease`, sent at `sentAt`, raced against its safe deadline: at the
    /// deadline the lease is lost and the request abandoned (cancelled); a late answer changes
    /// nothing. Wakes the renewal loop when done, so it schedules the next one.
    private func refresh(_ lease: Lease, sentAt: Duration) async {
        defer { leasesChanged.notifyAll() }
        enum Outcome: Sendable {
            case answered(Bool)
            case failed(any Error)
            case deadlinePassed
        }
        let deadline = lease.machine.safeDeadline
        let outcome = await withTaskGroup(of: Outcome?.self) { group -> Outcome in
            group.addTask {
                do {
                    return .answered(try await self.backend.refresh(lease.key, grant: lease.grant, ttl: lease.ttl))
                } catch {
                    return .failed(error)
                }
            }
            if let deadline {
                group.addTask {
                    do {
                        try await self.clock.sleep(until: deadline)
                        return .deadlinePassed
                    } catch {
                        return nil
                    }
                }
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .failed(CancellationError())
        }
        let now = clock.now()
        let change: LeaseState?
        switch outcome {
        case .answered(let stillOurs):
            metrics.renewal(succeeded: stillOurs)
            change = lease.update { stillOurs ? $0.refreshSucceeded(sentAt: sentAt, now: now) : $0.revoked() }
        case .failed(let error):
            if error is CancellationError, Task.isCancelled { return }
            metrics.renewal(succeeded: false)
            logger.debug("lease refresh failed", metadata: ["tooz_lock": "\(lease.key)", "error": "\(error)"])
            change = lease.update { $0.refreshFailed(now: now) }
        case .deadlinePassed:
            metrics.renewal(succeeded: false)
            logger.debug("lease refresh did not answer before the safe deadline", metadata: ["tooz_lock": "\(lease.key)"])
            change = lease.update { $0.refreshFailed(now: now) }
        }
        if let change { noteLeaseChange(lease, change) }
    }

    package func noteLeaseChange(_ lease: Lease, _ change: LeaseState) {
        logger.debug("lease changed state", metadata: ["tooz_lock": "\(lease.key)", "tooz_lease_state": "\(change)"])
        guard case .lost(let reason) = change else { return }
        metrics.leaseLost(lease, reason: reason)
        if case .leadership = lease.key { metrics.leadershipChanged() }
        // We gave the lease up at its safe deadline, but the store may still hold it for us (a
        // ZooKeeper session that comes back, a Redis key whose TTL has not run out): hand it
        // back as soon as the store answers, so it frees at once. A scoped lease (withLock,
        // withLeadership) is released after its body ends.
        if reason == .expired, info.leaseKind == .ttl, !lease.isScoped {
            state.withLock { $0.abandonedReleases[lease.grant.owner.token] = (lease.key, lease.grant) }
            leasesChanged.notifyAll()
        }
    }

    // MARK: Lease registry

    package func register(_ lease: Lease) {
        let machine = lease.machine
        let mustWake = state.withLock { state -> Bool in
            state.leases[ObjectIdentifier(lease)] = lease
            return state.renewalMustWake(for: machine)
        }
        if mustWake { leasesChanged.notifyAll() }
    }

    /// Releases `lease` on the backend and forgets it. Returns `false` when it was not ours any more.
    package func release(_ lease: Lease) async throws -> Bool {
        let registered = state.withLock { $0.leases[ObjectIdentifier(lease)] != nil }
        guard registered else { return false }
        guard let executor = backend.taskExecutor else { return try await releaseOnBackend(lease) }
        return try await withTaskExecutorPreference(executor) { try await releaseOnBackend(lease) }
    }

    package func releaseOnBackend(_ lease: Lease) async throws -> Bool {
        let wasUsable = lease.state.isUsable
        defer {
            state.withLock { _ = $0.leases.removeValue(forKey: ObjectIdentifier(lease)) }
            if lease.update({ $0.released() }) != nil, wasUsable {
                if case .leadership = lease.key { metrics.leadershipChanged() }
            }
            metrics.lockHeld(lease, clock: clock)
        }
        do {
            return try await backend.release(lease.key, grant: lease.grant)
        } catch {
            // A lease whose release failed must not outlive its holder's interest in it: on a
            // session-bound store (ZooKeeper) the lock node would stay as long as the session
            // does. Token-compared releases (TTL backends) are safe to retry later.
            if info.leaseKind == .ttl {
                state.withLock { $0.abandonedReleases[lease.grant.owner.token] = (lease.key, lease.grant) }
            }
            throw ToozError.wrap(error, "could not release \(lease.key) on the \(info.name) backend")
        }
    }

    /// Retries the releases that failed and releases leases given up at their deadline, until
    /// the backend answers (released, or not ours any more). Releases compare the grant, so an
    /// old grant never frees someone else's lock; and none is sent while we hold the key again.
    ///
    /// Runs beside the refreshes, one pass at a time; a pass takes at most a second (then it is
    /// cancelled and tried again on the next round).
    private func startHandingBack() -> Bool {
        state.withLock { state in
            guard !state.abandonedReleases.isEmpty, !state.handingBack else { return false }
            state.handingBack = true
            return true
        }
    }

    private func retryAbandonedReleases() async {
        let pending = state.withLock { state -> [(key: LockKey, grant: LockGrant)] in
            let heldKeys = Set(state.leases.values.filter { $0.state.isUsable }.map(\.key))
            return state.abandonedReleases.values.filter { !heldKeys.contains($0.key) }
        }
        if pending.isEmpty { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.releaseAbandoned(pending) }
            group.addTask { try? await Task.sleep(for: .seconds(1)) }
            await group.next()
            group.cancelAll()
        }
    }

    private func releaseAbandoned(_ pending: [(key: LockKey, grant: LockGrant)]) async {
        for (key, grant) in pending {
            do {
                _ = try await backend.release(key, grant: grant)
                state.withLock { _ = $0.abandonedReleases.removeValue(forKey: grant.owner.token) }
            } catch {
                if error is CancellationError { return }
                logger.debug("retrying a failed release failed", metadata: ["tooz_lock": "\(key)", "error": "\(error)"])
            }
        }
    }
}
