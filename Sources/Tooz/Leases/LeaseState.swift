/// The state of a lock or leadership held by this member. The same four states on every backend.
public enum LeaseState: Sendable, Hashable, CustomStringConvertible {
    /// Held, and the last acquire or refresh succeeded.
    case held
    /// A refresh failed; the lease is still safe to use until its deadline, measured locally
    /// from the moment the last successful request was sent, minus a margin.
    case uncertain
    /// Gone: the safe deadline passed without a successful refresh, the backend said it is no
    /// longer ours, or the coordinator shut down. Never silently re-acquired.
    case lost(LeaseLossReason)
    /// Released by us.
    case released

    /// Whether work under this lease may go on (`held` or `uncertain`).
    public var isUsable: Bool {
        switch self {
        case .held, .uncertain: true
        case .lost, .released: false
        }
    }

    public var description: String {
        switch self {
        case .held: "held"
        case .uncertain: "uncertain"
        case .lost(let reason): "lost (\(reason))"
        case .released: "released"
        }
    }
}

/// Why a lease was lost.
public enum LeaseLossReason: String, Sendable, Hashable, CustomStringConvertible {
    /// No refresh succeeded before the safe deadline.
    case expired
    /// The backend answered that the lock is not ours any more (broken, taken over, session gone).
    case revoked
    /// The coordinator stopped while the lease was held.
    case shutdown
    /// The backend reported that the session holding it ended (a ZooKeeper session expiry).
    case sessionExpired

    public var description: String { rawValue }
}

/// The pure state machine behind every lease and membership: it turns refresh outcomes, backend
/// signals and clock readings into state changes. Times are readings of the coordinator's
/// ``ToozClock``.
///
/// A refresh in flight never holds the clock back: ``tick(now:)`` turns the lease `uncertain`
/// when a refresh has not answered within half a refresh period, and `lost` at the safe
/// deadline, whatever is still outstanding. An answer that arrives after the deadline does not
/// revive it.
package struct LeaseStateMachine: Sendable, Equatable {
    package private(set) var state: LeaseState = .held
    /// `nil` for session leases, which cannot expire.
    package private(set) var ttl: Duration?
    package let margin: Duration
    /// When the lease stops being safe to use, if no refresh succeeds before.
    package private(set) var safeDeadline: Duration?
    /// When the next refresh is due.
    package private(set) var nextRefresh: Duration
    /// When the refresh now in flight was sent; `nil` when none is.
    package private(set) var refreshSentAt: Duration?
    private let refreshPeriod: Duration
    /// How long a refresh may go unanswered before the lease is `uncertain`: half a period.
    package let answerWindow: Duration

    /// - Parameters:
    ///   - sentAt: when the acquire request that succeeded was sent.
    package init(sentAt: Duration, ttl: Duration?, margin: Duration, refreshPeriod: Duration) {
        self.init(sentAt: sentAt, ttl: ttl, timing: LeaseTiming(margin: margin, refreshPeriod: refreshPeriod))
    }

    /// - Parameters:
    ///   - sentAt: when the acquire request that succeeded was sent.
    ///   - ttl: the TTL the store applies; `nil` for a session lease.
    package init(sentAt: Duration, ttl: Duration?, timing: LeaseTiming) {
        self.ttl = ttl
        self.margin = timing.margin
        self.refreshPeriod = timing.refreshPeriod
        self.answerWindow = timing.answerWindow
        self.safeDeadline = ttl.map { sentAt + $0 - timing.margin }
        self.nextRefresh = sentAt + timing.refreshPeriod
    }

    /// Marks a refresh as sent when one is due and none is in flight. Returns whether to send it.
    package mutating func startRefreshIfDue(now: Duration) -> Bool {
        guard state.isUsable, refreshSentAt == nil, nextRefresh <= now else { return false }
        refreshSentAt = now
        return true
    }

    /// Marks a refresh as sent, due or not (heartbeats are timed by their own loop).
    package mutating func refreshStarted(now: Duration) {
        if refreshSentAt == nil { refreshSentAt = now }
    }

    /// A refresh sent at `sentAt` succeeded.
    package mutating func refreshSucceeded(sentAt: Duration, now: Duration) -> LeaseState? {
        refreshSentAt = nil
        guard state.isUsable else { return nil }
        if let deadline = safeDeadline, now >= deadline {
            // Too late: we cannot know whether someone else held it in between.
            return transition(to: .lost(.expired))
        }
        if let ttl { safeDeadline = max(safeDeadline ?? .zero, sentAt + ttl - margin) }
        nextRefresh = sentAt + refreshPeriod
        return transition(to: .held)
    }

    /// A refresh could not be completed (network, server error).
    package mutating func refreshFailed(now: Duration) -> LeaseState? {
        refreshSentAt = nil
        guard state.isUsable else { return nil }
        if let deadline = safeDeadline, now >= deadline { return transition(to: .lost(.expired)) }
        // Retry sooner than the regular period, but never later than the deadline.
        let retry = now + refreshPeriod / 3
        nextRefresh = safeDeadline.map { min(retry, $0) } ?? retry
        return transition(to: .uncertain)
    }

    /// The backend reported its connection or session interrupted: uncertain until proven.
    package mutating func doubted(now: Duration) -> LeaseState? {
        guard state.isUsable else { return nil }
        nextRefresh = min(nextRefresh, now)
        return transition(to: .uncertain)
    }

    /// The backend reported its connection back: refresh now rather than at the next period.
    package mutating func reassure(now: Duration) {
        guard state.isUsable else { return }
        nextRefresh = min(nextRefresh, now)
    }

    /// The backend answered that the lease is not ours any more.
    package mutating func revoked() -> LeaseState? {
        guard state.isUsable else { return nil }
        return transition(to: .lost(.revoked))
    }

    /// The session holding the lease ended.
    package mutating func sessionEnded() -> LeaseState? {
        guard state.isUsable else { return nil }
        return transition(to: .lost(.sessionExpired))
    }

    /// The clock moved: expires the lease when its deadline has passed, and doubts it when a
    /// refresh has gone unanswered for longer than ``answerWindow``.
    package mutating func tick(now: Duration) -> LeaseState? {
        guard state.isUsable else { return nil }
        if let deadline = safeDeadline, now >= deadline { return transition(to: .lost(.expired)) }
        if state == .held, let sentAt = refreshSentAt, now >= sentAt + answerWindow {
            return transition(to: .uncertain)
        }
        return nil
    }

    package mutating func shutDown() -> LeaseState? {
        guard state.isUsable else { return nil }
        return transition(to: .lost(.shutdown))
    }

    package mutating func released() -> LeaseState? {
        guard state != .released else { return nil }
        return transition(to: .released)
    }

    /// A membership that was lost is held again (re-joined, or proven alive by a heartbeat sent
    /// at `sentAt`). Leases never come back; only memberships use this.
    package mutating func restored(sentAt: Duration, ttl newTTL: Duration?) -> LeaseState? {
        guard case .lost = state else { return nil }
        if let newTTL { ttl = newTTL }
        refreshSentAt = nil
        safeDeadline = ttl.map { sentAt + $0 - margin }
        nextRefresh = sentAt + refreshPeriod
        return transition(to: .held)
    }

    /// The store applies `newTTL` instead of the one asked for (a granted session timeout).
    package mutating func adopt(ttl newTTL: Duration, validFrom: Duration) {
        guard ttl != nil, ttl != newTTL else { return }
        ttl = newTTL
        safeDeadline = validFrom + newTTL - margin
    }

    /// The next time the renewal loop must look at this lease.
    package var nextWakeUp: Duration? {
        guard state.isUsable else { return nil }
        var wake: Duration? = refreshSentAt == nil ? nextRefresh : nil
        if state == .held, let sentAt = refreshSentAt { wake = sentAt + answerWindow }
        if let deadline = safeDeadline { wake = wake.map { min($0, deadline) } ?? deadline }
        return wake
    }

    private mutating func transition(to newState: LeaseState) -> LeaseState? {
        guard newState != state else { return nil }
        state = newState
        return newState
    }
}
