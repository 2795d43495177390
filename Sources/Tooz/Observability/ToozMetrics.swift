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

    package init(backend: String, factory: any MetricsFactory) {
        self.backend = backend
        self.factory = factory
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

    func lockAcquired(_ key: LockKey, waited: Duration) { lockWait.record(waited) }
    func lockBusy(_ key: LockKey) { lockBusyCount.increment() }
    func lockHeld(_ lease: Lease, for duration: Duration) { lockHold.record(duration) }
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
