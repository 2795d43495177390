import Metrics

/// The coordinator's swift-metrics instruments, all with a `backend` dimension.
///
/// - `tooz_lock_wait_seconds` (timer): time from the first attempt to the grant.
/// - `tooz_lock_hold_seconds` (timer): time from the grant to the release or loss.
/// - `tooz_lock_busy_total` (counter): acquisitions that gave up because the lock stayed busy.
/// - `tooz_lease_renewals_total` (counter, `result` = ok / failed).
/// - `tooz_leases_lost_total` (counter, `reason` = expired / revoked / shutdown).
/// - `tooz_leadership_changes_total` (counter): this member gaining or losing a leadership.
package struct ToozMetrics: Sendable {
    private let backend: String
    private let factory: any MetricsFactory
    private let lockWait: Metrics.Timer
    private let lockHold: Metrics.Timer
    private let lockBusyCount: Counter
    private let renewalsOK: Counter
    private let renewalsFailed: Counter
    private let leadershipChanges: Counter
    private let heartbeatsOK: Counter
    private let heartbeatsFailed: Counter
    private let rejoins: Counter
    /// Whether a real factory is bootstrapped: without one the timers record nothing, and the
    /// clock readings they need are skipped (a lock cycle on ipc:// is a few microseconds).
    private let recordsTimes: Bool

    package init(backend: String, factory: any MetricsFactory) {
        self.backend = backend
        self.factory = factory
        self.recordsTimes = !(factory is NOOPMetricsHandler)
        let dimensions = [("backend", backend)]
        lockWait = Metrics.Timer(label: "tooz_lock_wait_seconds", dimensions: dimensions, factory: factory)
        lockHold = Metrics.Timer(label: "tooz_lock_hold_seconds", dimensions: dimensions, factory: factory)
        lockBusyCount = Counter(label: "tooz_lock_busy_total", dimensions: dimensions, factory: factory)
        renewalsOK = Counter(
            label: "tooz_lease_renewals_total", dimensions: dimensions + [("result", "ok")], factory: factory
        )
        renewalsFailed = Counter(
            label: "tooz_lease_renewals_total", dimensions: dimensions + [("result", "failed")], factory: factory
        )
        leadershipChanges = Counter(label: "tooz_leadership_changes_total", dimensions: dimensions, factory: factory)
        heartbeatsOK = Counter(label: "tooz_heartbeats_total", dimensions: dimensions + [("result", "ok")], factory: factory)
        heartbeatsFailed = Counter(
            label: "tooz_heartbeats_total", dimensions: dimensions + [("result", "failed")], factory: factory
        )
        rejoins = Counter(label: "tooz_membership_rejoins_total", dimensions: dimensions, factory: factory)
    }

    func heartbeat(succeeded: Bool) { (succeeded ? heartbeatsOK : heartbeatsFailed).increment() }
    func rejoined() { rejoins.increment() }
    func membershipLost(reason: LeaseLossReason) {
        Counter(
            label: "tooz_memberships_lost_total", dimensions: [("backend", backend), ("reason", reason.rawValue)],
            factory: factory
        ).increment()
    }

    /// Records the wait of an acquisition that started at `started` on `clock`.
    func lockAcquired(_ key: LockKey, startedAt started: Duration, clock: any ToozClock) {
        if recordsTimes { lockWait.record(clock.now() - started) }
    }
    func lockBusy(_ key: LockKey) { lockBusyCount.increment() }
    /// Records how long `lease` was held, until now on `clock`.
    func lockHeld(_ lease: Lease, clock: any ToozClock) {
        if recordsTimes { lockHold.record(clock.now() - lease.acquiredAt) }
    }
    func renewal(succeeded: Bool) { (succeeded ? renewalsOK : renewalsFailed).increment() }
    func leadershipChanged() { leadershipChanges.increment() }

    func leaseLost(_ lease: Lease, reason: LeaseLossReason) {
        Counter(
            label: "tooz_leases_lost_total", dimensions: [("backend", backend), ("reason", reason.rawValue)],
            factory: factory
        ).increment()
    }
}

extension Metrics.Timer {
    fileprivate func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
