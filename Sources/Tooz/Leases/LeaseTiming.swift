/// The durations a lease of one TTL is timed with, derived once per TTL rather than per lease:
/// multiplying a `Duration` by a `Double` or dividing it is 128-bit arithmetic, which cost more
/// than the system calls of an `ipc://` lock cycle when it ran on every acquisition.
package struct LeaseTiming: Sendable, Equatable {
    /// The TTL these durations derive from.
    package let ttl: Duration
    /// Subtracted from the deadline (``CoordinatorConfiguration/safetyMargin(for:)``).
    package let margin: Duration
    /// How often the lease is refreshed.
    package let refreshPeriod: Duration
    /// How long a refresh may go unanswered before the lease is `uncertain`: half a period.
    package let answerWindow: Duration

    package init(ttl: Duration, configuration: CoordinatorConfiguration) {
        self.ttl = ttl
        self.margin = configuration.safetyMargin(for: ttl)
        self.refreshPeriod = ttl * configuration.renewalFraction
        self.answerWindow = refreshPeriod / 2
    }

    /// Timing given directly (tests, and leases whose TTL is not derived from the configuration).
    package init(margin: Duration, refreshPeriod: Duration) {
        self.ttl = .zero
        self.margin = margin
        self.refreshPeriod = refreshPeriod
        self.answerWindow = refreshPeriod / 2
    }
}
