import Logging

/// The membership and leadership changes of one group, starting with a ``GroupEvent/snapshot(_:)``.
///
/// It also reports this member's own ``MembershipState`` in the group when it changes
/// (``GroupEvent/membershipChanged(_:)``).
///
/// Backends that push (``EventDelivery/pushed``) wake the sequence as changes happen, through a
/// ``ChangeSubscription`` held while the iterator lives; every
/// backend is also re-read each ``CoordinatorConfiguration/eventPollInterval``, which is all a
/// polled backend gets. Each wake-up re-reads the whole group and yields the difference, so
/// nothing is missed except a member that joined and left between two reads. A group that is
/// deleted yields `left` for every member and the sequence goes on (the group may come back).
/// When the backend cannot be reached (`connectionFailed`, `timedOut`) after the first snapshot,
/// the sequence logs a warning, keeps reading at the poll interval, and when a read succeeds
/// again yields the difference from the last state it reported (and logs that it resumed):
/// an outage delays events but loses none except, as ever, a join and leave in between. It
/// ends when the consuming task is cancelled, and throws when the first read fails or the
/// backend fails otherwise.
public struct GroupEvents: AsyncSequence, Sendable {
    public typealias Element = GroupEvent
    public typealias Failure = any Error

    let coordinator: Coordinator
    let group: GroupID

    public func makeAsyncIterator() -> Iterator {
        Iterator(coordinator: coordinator, group: group)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let coordinator: Coordinator
        let group: GroupID
        /// Held while the iterator lives; cancelled when it is dropped or the sequence ends.
        var subscription: ChangeSubscription?
        var seenGroup: UInt64 = 0
        var seenMemberships: UInt64 = 0
        var last: GroupSnapshot?
        /// This member's membership when the stream started following it, and how many of its
        /// changes were reported.
        var membership: Membership?
        var membershipChangesSeen = 0
        var pending: [GroupEvent] = []
        /// When the backend stopped answering, while it does not.
        var outageSince: Duration?

        init(coordinator: Coordinator, group: GroupID) {
            self.coordinator = coordinator
            self.group = group
        }

        public mutating func next() async throws -> GroupEvent? {
            while pending.isEmpty {
                if Task.isCancelled { return finish() }
                guard let last else {
                    let group = self.group
                    let subscribed = try await coordinator.call("follow changes of \(group.rawValue.debugDescription)") {
                        try await $0.subscribe(to: .group(group))
                    }
                    subscription = subscribed
                    seenGroup = subscription?.signal.generation ?? 0
                    seenMemberships = coordinator.membershipsChanged.generation
                    membership = coordinator.membership(in: group)
                    membershipChangesSeen = membership?.changeCount ?? 0
                    let snapshot = try await coordinator.snapshot(of: group)
                    self.last = snapshot
                    return .snapshot(snapshot)
                }
                let interval = coordinator.configuration.eventPollInterval
                do {
                    var sources = [(coordinator.membershipsChanged, seenMemberships)]
                    if let subscription { sources.append((subscription.signal, seenGroup)) }
                    _ = try await ChangeBroadcast.waitForAny(sources, timeout: interval, clock: coordinator.clock)
                    seenGroup = subscription?.signal.generation ?? 0
                    seenMemberships = coordinator.membershipsChanged.generation
                } catch {
                    return finish()
                }
                let snapshot: GroupSnapshot
                do {
                    snapshot = try await coordinator.snapshot(of: group, allowMissing: true)
                } catch let error as ToozError where error.code == .connectionFailed || error.code == .timedOut {
                    if outageSince == nil {
                        outageSince = coordinator.clock.now()
                        coordinator.logger.warning(
                            "events of group \(group.rawValue.debugDescription) interrupted; reading again every \(interval)",
                            metadata: ["error": "\(error.message)"]
                        )
                    }
                    continue
                }
                if let since = outageSince {
                    outageSince = nil
                    coordinator.logger.warning(
                        "events of group \(group.rawValue.debugDescription) resumed after \(coordinator.clock.now() - since); what changed meanwhile follows as differences"
                    )
                }
                pending = MembershipDiff.events(from: last, to: snapshot)
                self.last = snapshot
                pending += membershipChanges()
            }
            return pending.removeFirst()
        }

        /// Every state change of this member's membership since the last look, each once; a
        /// join or leave of our own shows as one too.
        private mutating func membershipChanges() -> [GroupEvent] {
            let current = coordinator.membership(in: group)
            var events: [GroupEvent] = []
            if let membership {
                let (changes, next) = membership.changes(since: membershipChangesSeen)
                events += changes.map { .membershipChanged($0) }
                membershipChangesSeen = next
            }
            if current !== membership {
                if let current {
                    events.append(.membershipChanged(current.state))
                    membershipChangesSeen = current.changeCount
                } else if membership?.state != .left {
                    events.append(.membershipChanged(.left))
                }
                membership = current
            }
            return events
        }

        private mutating func finish() -> GroupEvent? {
            subscription?.cancel()
            subscription = nil
            return nil
        }
    }
}

extension Coordinator {
    /// Membership and leadership changes of `group`, starting with its current state.
    /// tooz: `watch_join_group` / `watch_leave_group` / `watch_elected_as_leader` + `run_watchers`.
    ///
    /// Names are checked here; the group is read when iteration starts, which throws
    /// `groupNotCreated` if it does not exist then.
    public func events(in group: GroupID) throws(ToozError) -> GroupEvents {
        try check(group, feature: .membership, "group membership")
        return GroupEvents(coordinator: self, group: group)
    }

    /// The group's members with capabilities, and its leader when the backend can tell.
    /// With `allowMissing`, a group that does not exist reads as empty.
    package func snapshot(of group: GroupID, allowMissing: Bool = false) async throws -> GroupSnapshot {
        let members: [MemberID: Capabilities]
        do {
            members = try await membersWithCapabilities(of: group)
        } catch let error as ToozError where allowMissing && error.code == .groupNotCreated {
            members = [:]
        }
        let leader = info.features.contains(.leaderQuery) ? try await holder(of: .leadership(group)) : nil
        return GroupSnapshot(group: group, members: members, leader: leader)
    }
}
