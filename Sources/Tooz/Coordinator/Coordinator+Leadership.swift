import Synchronization
extension Coordinator {
    /// Campaigns for the leadership of `group` and returns once this member leads.
    /// The leadership is renewed by ``run()`` until ``standDown(from:)`` or loss.
    /// tooz: `watch_elected_as_leader` + `run_elect_coordinator`.
    ///
    /// - Throws: `lockBusy` when another member still leads after `wait`; `lockAlreadyHeld` when
    ///   this coordinator already leads `group`; `notImplemented`.
    @discardableResult
    public func campaign(for group: GroupID, wait: LockWait = .forever) async throws -> Lease {
        try check(group, feature: .leaderElection, "leader election")
        if currentLeadership(of: group) != nil {
            throw ToozError(.lockAlreadyHeld, "this member already leads group \(group.rawValue.debugDescription)")
        }
        return try await acquire(.leadership(group), wait: wait, ttl: configuration.leaderTTL)
    }

    /// Campaigns for `group`, runs `body` while this member leads it, and stands down after
    /// `body` has finished. If leadership is lost, `body` is cancelled and this throws `leaseLost`.
    public func withLeadership<Result: Sendable>(
        of group: GroupID,
        body: @Sendable (Lease) async throws -> Result
    ) async throws -> Result {
        let lease = try await campaign(for: group)
        return try await runScoped(lease, body: body)
    }

    /// Gives up the leadership of `group`. Returns `false` when this member did not lead it.
    /// tooz: `stand_down_group_leader`.
    @discardableResult
    public func standDown(from group: GroupID) async throws -> Bool {
        try check(group, feature: .leaderElection, "leader election")
        guard let lease = currentLeadership(of: group) else { return false }
        return try await release(lease)
    }

    /// The leader of `group`, or `nil` when nobody leads it. tooz: `get_leader`.
    public func leader(of group: GroupID) async throws -> MemberID? {
        try check(group, feature: .leaderQuery, "reading the leader")
        return try await holder(of: .leadership(group))
    }

    /// This coordinator's usable leadership lease for `group`, if any.
    public func currentLeadership(of group: GroupID) -> Lease? {
        state.withLock { state in
            state.leases.values.first { $0.key == .leadership(group) && $0.state.isUsable }
        }
    }
}
