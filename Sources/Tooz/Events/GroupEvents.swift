/// The membership and leadership changes of one group, starting with a ``GroupEvent/snapshot(_:)``.
///
/// Backends that push (``EventDelivery/pushed``) wake the sequence as changes happen; every
/// backend is also re-read each ``CoordinatorConfiguration/eventPollInterval``, which is all a
/// polled backend gets. Each wake-up re-reads the whole group and yields the difference, so
/// nothing is missed except a member that joined and left between two reads. A group that is
/// deleted yields `left` for every member and the sequence goes on (the group may come back).
/// The sequence ends when the consuming task is cancelled and throws when the backend fails.
public struct GroupEvents: AsyncSequence, Sendable {
    public typealias Element = GroupEvent
    public typealias Failure = any Error

    let coordinator: Coordinator
    let group: GroupID

    public func makeAsyncIterator() -> Iterator {
        Iterator(coordinator: coordinator, group: group, signal: coordinator.backend.changeSignal(for: group))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let coordinator: Coordinator
        let group: GroupID
        let signal: ChangeBroadcast?
        var seen: UInt64 = 0
        var last: GroupSnapshot?
        var pending: [GroupEvent] = []

        init(coordinator: Coordinator, group: GroupID, signal: ChangeBroadcast?) {
            self.coordinator = coordinator
            self.group = group
            self.signal = signal
        }

        public mutating func next() async throws -> GroupEvent? {
            while pending.isEmpty {
                if Task.isCancelled { return nil }
                guard let last else {
                    seen = signal?.generation ?? 0
                    let snapshot = try await coordinator.snapshot(of: group)
                    self.last = snapshot
                    return .snapshot(snapshot)
                }
                let interval = coordinator.configuration.eventPollInterval
                do {
                    if let signal {
                        _ = try await signal.wait(since: seen, timeout: interval, clock: coordinator.clock)
                        seen = signal.generation
                    } else {
                        try await coordinator.clock.sleep(for: interval)
                    }
                } catch {
                    return nil
                }
                let snapshot = try await coordinator.snapshot(of: group, allowMissing: true)
                pending = MembershipDiff.events(from: last, to: snapshot)
                self.last = snapshot
            }
            return pending.removeFirst()
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
