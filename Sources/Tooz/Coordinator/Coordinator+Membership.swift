import Synchronization
import Logging

extension Coordinator {
    /// This member's membership of `group`, while joined (lost memberships included, until
    /// re-joined); `nil` when not joined or left.
    public func membership(in group: GroupID) -> Membership? {
        state.withLock { $0.memberships[group] }
    }

    /// The state of this member's membership of `group`; ``MembershipState/left`` when not joined.
    public func membershipState(in group: GroupID) -> MembershipState {
        membership(in: group)?.state ?? .left
    }

    /// Records a successful join: a new membership lease from `sentAt`, heartbeat scheduled.
    package func noteJoined(_ group: GroupID, capabilities: Capabilities, sentAt: Duration) {
        let machine = LeaseStateMachine(sentAt: sentAt, ttl: configuration.membershipTTL, timing: membershipTiming)
        let membership = Membership(group: group, capabilities: capabilities, machine: machine)
        // A join or leave in a loop should not cost a timer each (see renewalMustWake).
        let (previous, mustWake) = state.withLock { state in
            defer { state.memberships[group] = membership }
            return (state.memberships[group], state.renewalMustWake(for: machine))
        }
        previous?.update { $0.released() }
        membershipsChanged.notifyAll()
        if mustWake { leasesChanged.notifyAll() }
    }

    /// Forgets the membership of `group` after a leave.
    package func noteLeft(_ group: GroupID) {
        let membership = state.withLock { $0.memberships.removeValue(forKey: group) }
        if membership?.update({ $0.released() }) != nil { membershipsChanged.notifyAll() }
    }

    package func noteMembershipChange(_ membership: Membership, _ change: LeaseState) {
        let newState = MembershipState(change)
        switch newState {
        case .lost(let reason):
            logger.warning("membership lost", metadata: ["tooz_group_id": "\(membership.group)", "reason": "\(reason)"])
            metrics.membershipLost(reason: reason)
        case .uncertain, .joined:
            logger.debug("membership changed state", metadata: ["tooz_group_id": "\(membership.group)", "tooz_membership_state": "\(newState)"])
        case .left:
            break
        }
        membershipsChanged.notifyAll()
    }

    /// Beats for every joined group at the heartbeat interval, and at once when a backend
    /// signal or a lost membership asks for it. tooz: `Heart`.
    ///
    /// Re-joining is the coordinator's policy, the same on every backend: a membership whose
    /// record the backend reports gone is re-joined with the capabilities the coordinator holds;
    /// one lost only because beats failed (its record may still be there) is joined again by
    /// the next heartbeat that succeeds.
    package func heartbeatLoop() async {
        while !Task.isCancelled {
            let seen = heartbeatNeeded.generation
            let memberships = state.withLock { $0.memberships }
            var retrySoon = false
            if !memberships.isEmpty {
                retrySoon = await beat(memberships)
            }
            let interval = retrySoon ? configuration.heartbeatInterval / 3 : configuration.heartbeatInterval
            do {
                _ = try await heartbeatNeeded.wait(since: seen, timeout: interval, clock: clock)
            } catch {
                return
            }
        }
    }

    /// One heartbeat and the re-joins it calls for. Returns whether something is still wrong
    /// (a failed beat, a re-join refused), so the next beat comes sooner.
    private func beat(_ memberships: [GroupID: Membership]) async -> Bool {
        let sentAt = clock.now()
        for membership in memberships.values { membership.cell.schedule { $0.refreshStarted(now: sentAt) } }
        let result: HeartbeatResult
        do {
            result = try await backend.heartbeat(member: member, groups: Set(memberships.keys))
        } catch {
            if Task.isCancelled { return false }
            metrics.heartbeat(succeeded: false)
            logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            let now = clock.now()
            for membership in memberships.values {
                if let change = membership.update({ $0.refreshFailed(now: now) }) { noteMembershipChange(membership, change) }
            }
            return true
        }
        metrics.heartbeat(succeeded: true)
        let now = clock.now()
        var troubled = false
        for (group, membership) in memberships.sorted(by: { $0.key < $1.key }) {
            guard state.withLock({ $0.memberships[group] === membership }) else { continue }
            if let ttl = result.ttl { membership.cell.schedule { $0.adopt(ttl: ttl, validFrom: sentAt) } }
            if result.missing.contains(group) {
                if let change = membership.update({ $0.revoked() }) { noteMembershipChange(membership, change) }
                if await !rejoin(membership) { troubled = true }
            } else if case .lost = membership.state {
                // The beat reached the store and the record is there: others see us again.
                if let change = membership.update({ $0.restored(sentAt: sentAt, ttl: result.ttl) }) {
                    noteMembershipChange(membership, change)
                }
            } else if let change = membership.update({ $0.refreshSucceeded(sentAt: sentAt, now: now) }) {
                noteMembershipChange(membership, change)
            }
        }
        return troubled
    }

    /// Joins `membership.group` again with the capabilities the coordinator holds. Returns
    /// whether the membership is held again.
    private func rejoin(_ membership: Membership) async -> Bool {
        await membershipGate.withGate(membership.group) { await rejoinInTurn(membership) }
    }

    private func rejoinInTurn(_ membership: Membership) async -> Bool {
        // Left while this re-join waited its turn: nothing to re-join.
        guard state.withLock({ $0.memberships[membership.group] === membership }) else { return true }
        let sentAt = clock.now()
        do {
            try await backend.join(membership.group, member: member, capabilities: membership.capabilities)
        } catch let error as ToozError where error.code == .groupNotCreated {
            // The group was deleted meanwhile: there is nothing to re-join.
            logger.warning("group deleted while this member was lost; not re-joining", metadata: ["tooz_group_id": "\(membership.group)"])
            noteLeft(membership.group)
            return true
        } catch {
            // memberAlreadyJoined: an old session's record the server has not reaped yet.
            logger.debug("re-join failed; retrying", metadata: ["tooz_group_id": "\(membership.group)", "error": "\(error)"])
            return false
        }
        logger.notice("re-joined group after losing the membership", metadata: ["tooz_group_id": "\(membership.group)"])
        metrics.rejoined()
        if let change = membership.update({ $0.restored(sentAt: sentAt, ttl: nil) }) {
            noteMembershipChange(membership, change)
        }
        return true
    }
}
