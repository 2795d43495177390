/// One acquisition the coordinator asks a backend for: who, what, and until when it may wait.
public struct AcquireRequest: Sendable {
    public var key: LockKey
    public var owner: LockOwner
    /// The lease the store should apply (TTL backends); session backends ignore it.
    public var ttl: Duration
    /// The last moment, on ``clock``, at which the backend may still grant the lock; `nil` waits
    /// until cancelled. A request that may not wait has a deadline of its start.
    public var deadline: Duration?
    /// The coordinator's clock.
    public var clock: any ToozClock
    /// The longest a waiter sleeps between two attempts when nothing wakes it.
    public var pollInterval: Duration
    /// When the coordinator started this acquisition, on ``clock``: no later than the first
    /// attempt's send, so a backend may count that attempt's lease from it instead of reading
    /// the clock again. `nil` when not known.
    public var startedAt: Duration?

    public init(key: LockKey, owner: LockOwner, ttl: Duration, deadline: Duration?, clock: any ToozClock, pollInterval: Duration) {
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.deadline = deadline
        self.clock = clock
        self.pollInterval = pollInterval
    }

    /// Whether the deadline has passed at `now`.
    public func hasExpired(at now: Duration) -> Bool {
        deadline.map { now >= $0 } ?? false
    }
}

extension CoordinationBackend {
    /// The try/wait loop for backends that cannot block on the server: one
    /// ``CoordinationBackend/tryAcquire(_:owner:ttl:)`` after another, sleeping between them
    /// until a ``ChangeTopic/lock(_:)`` subscription says the lock may be free, or for
    /// ``AcquireRequest/pollInterval`` when none wakes it.
    ///
    /// Each grant's ``LockGrant/validFrom`` is the moment its successful attempt was sent.
    ///
    /// - Parameter waitForRelease: a backend's own way to wait at most the given time for the
    ///   lock to look free (a kernel wait, a cheap local check), used instead of a subscription.
    public func pollingAcquire(
        _ request: AcquireRequest, waitForRelease: (@Sendable (Duration) async throws -> Void)? = nil
    ) async throws -> LockGrant? {
        let clock = request.clock
        var subscription: ChangeSubscription?
        var subscribed = false
        defer { subscription?.cancel() }
        var firstAttempt = true
        while true {
            try Task.checkCancellation()
            let seen = subscription?.signal.generation
            // The first attempt may count from the acquisition's start (earlier, so safe).
            let sentAt = (firstAttempt ? request.startedAt : nil) ?? clock.now()
            firstAttempt = false
            if var grant = try await tryAcquire(request.key, owner: request.owner, ttl: request.ttl) {
                if grant.validFrom == nil { grant.validFrom = sentAt }
                return grant
            }
            let now = clock.now()
            if request.hasExpired(at: now) { return nil }
            let nap = request.deadline.map { min($0 - now, request.pollInterval) } ?? request.pollInterval
            if let waitForRelease {
                try await waitForRelease(nap)
            } else if let subscription, let seen {
                _ = try await subscription.signal.wait(since: seen, timeout: nap, clock: clock)
            } else if !subscribed {
                // Subscribed after a busy attempt: the next attempt comes at once, so that a
                // release between this attempt and the subscription is not slept through.
                subscribed = true
                subscription = try await subscribe(to: .lock(request.key))
                if subscription == nil { try await clock.sleep(for: nap) }
            } else {
                try await clock.sleep(for: nap)
            }
        }
    }
}
