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

    public var description: String { rawValue }
}

/// The pure state machine behind every lease: it turns refresh outcomes and clock readings into
/// state changes. Times are readings of the coordinator's ``ToozClock``.
package struct LeaseStateMachine: Sendable, Equatable {
    package private(set) var state: LeaseState = .held
    /// `nil` for session leases, which cannot expire.
    package let ttl: Duration?
    package let margin: Duration
    /// When the lease stops being safe to use, if no refresh succeeds before.
    package private(set) var safeDeadline: Duration?
    /// When the next refresh is due.
    package private(set) var nextRefresh: Duration
    private let refreshPeriod: Duration

    /// - Parameters:
    ///   - sentAt: when the acquire request that succeeded was sent.
    package init(sentAt: Duration, ttl: Duration?, margin: Duration, refreshPeriod: Duration) {
        self.ttl = ttl
        self.margin = margin
        self.refreshPeriod = refreshPeriod
        self.safeDeadline = ttl.map { sentAt + $0 - margin }
        self.nextRefresh = sentAt + refreshPeriod
    }

    /// A refresh sent at `sentAt` succeeded.
    package mutating func refreshSucceeded(sentAt: Duration, now: Duration) -> LeaseState? {
        guard state.isUsable else { return nil }
        if let deadline = safeDeadline, now >= deadline {
            // Too late: we cannot know whether someone else held it in between.
            return transition(to: .lost(.expired))
        }
        if let ttl { safeDeadline = sentAt + ttl - margin }
        nextRefresh = sentAt + refreshPeriod
        return transition(to: .held)
    }

    /// A refresh could not be completed (network, server error).
    package mutating func refreshFailed(now: Duration) -> LeaseState? {
        guard state.isUsable else { return nil }
        if let deadline = safeDeadline, now >= deadline { return transition(to: .lost(.expired)) }
        // Retry sooner than the regular period, but never later than the deadline.
        let retry = now + refreshPeriod / 3
        nextRefresh = safeDeadline.map { min(retry, $0) } ?? retry
        return transition(to: .uncertain)
    }

    /// The backend answered that the lease is not ours any more.
    package mutating func revoked() -> LeaseState? {
        guard state.isUsable else { return nil }
        return transition(to: .lost(.revoked))
    }

    /// The clock moved; expires the lease when its deadline has passed.
    package mutating func tick(now: Duration) -> LeaseState? {
        guard state.isUsable, let deadline = safeDeadline, now >= deadline else { return nil }
        return transition(to: .lost(.expired))
    }

    package mutating func shutDown() -> LeaseState? {
        guard state.isUsable else { return nil }
        return transition(to: .lost(.shutdown))
    }

    package mutating func released() -> LeaseState? {
        guard state != .released else { return nil }
        return transition(to: .released)
    }

    /// The next time the renewal loop must look at this lease.
    package var nextWakeUp: Duration? {
        guard state.isUsable else { return nil }
        guard let deadline = safeDeadline else { return nextRefresh }
        return min(nextRefresh, deadline)
    }

    private mutating func transition(to newState: LeaseState) -> LeaseState? {
        guard newState != state else { return nil }
        state = newState
        return newState
    }
}
