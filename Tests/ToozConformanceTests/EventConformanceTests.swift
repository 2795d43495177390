import Testing
import ToozBackends
import ToozTestKit

/// Group event streams (DESIGN §1.4; tooz's watch_* tests, reference §1.6 and §3.2), on every
/// backend: a snapshot first, then joins, leaves, capability changes and leader changes.
@Suite("Events", .timeLimit(.minutes(5)))
struct EventConformanceTests {
    /// The first element is a snapshot of the group as it is.
    @Test(arguments: TestBackends.urls)
    func eventsStartWithASnapshot(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group, capabilities: ["n": 1])
            try await second.join(group)
            var events = try second.events(in: group).makeAsyncIterator()
            guard case .snapshot(let snapshot) = try await events.next() else {
                Issue.record("the first event must be a snapshot")
                return
            }
            #expect(snapshot.group == group)
            #expect(snapshot.members == [first.member: ["n": 1], second.member: .nil])
            #expect(snapshot.leader == nil)
        }
    }

    /// tooz: test_watch_group_join / test_watch_leave_group: `joined` then `left`, in order,
    /// with the joiner's capabilities.
    @Test(arguments: TestBackends.urls)
    func joinAndLeaveAreReportedInOrder(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, watcher in
            let joiner = try env.coordinator()
            let group = env.group()
            try await watcher.createGroup(group)
            try await withEvents(of: watcher, in: group) { log in
                #expect(log.snapshot?.members == [:])
                try await joiner.withRunning {
                    try await joiner.join(group, capabilities: ["role": "joiner"])
                    try await log.waitFor(.joined(joiner.member, capabilities: ["role": "joiner"]))
                }
                try await log.waitFor(.left(joiner.member))
                #expect(
                    log.events(about: joiner.member)
                        == [.joined(joiner.member, capabilities: ["role": "joiner"]), .left(joiner.member)]
                )
                #expect(log.events.dropFirst().allSatisfy { if case .snapshot = $0 { false } else { true } })
            }
        }
    }

    /// An update of a member's capabilities is reported as `capabilitiesChanged`.
    @Test(arguments: TestBackends.urls)
    func capabilityUpdatesAreReported(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .updateCapabilities) { env, watcher, member in
            let group = env.group()
            try await watcher.createGroup(group)
            try await member.join(group, capabilities: ["v": 1])
            try await withEvents(of: watcher, in: group) { log in
                #expect(log.snapshot?.members == [member.member: ["v": 1]])
                try await member.updateCapabilities(["v": 2], in: group)
                try await log.waitFor(.capabilitiesChanged(member.member, capabilities: ["v": 2]))
                #expect(log.events(about: member.member) == [.capabilitiesChanged(member.member, capabilities: ["v": 2])])
            }
        }
    }

    /// Leadership changes are reported as `leaderChanged`, including "nobody leads".
    @Test(arguments: TestBackends.urls)
    func leaderChangesAreReported(url: String) async throws {
        try await withCoordinators(
            url, .plain, .plain, needing: [.leaderElection, .leaderQuery, .membership]
        ) { env, watcher, candidate in
            let group = env.group()
            try await watcher.createGroup(group)
            try await candidate.join(group)
            try await withEvents(of: watcher, in: group) { log in
                #expect(log.snapshot?.leader == nil)
                try await candidate.campaign(for: group)
                try await log.waitFor(.leaderChanged(candidate.member))
                try await candidate.standDown(from: group)
                try await log.waitFor(.leaderChanged(nil))
                #expect(log.events(about: candidate.member) == [.leaderChanged(candidate.member)])
            }
        }
    }

    /// tooz: test_watch_join_group_non_existent: the first `next()` throws `groupNotCreated`.
    @Test(arguments: TestBackends.urls)
    func eventsOfNonExistentGroupThrowGroupNotCreated(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            var events = try coordinator.events(in: group).makeAsyncIterator()
            await expectToozError(.groupNotCreated) { _ = try await events.next() }
        }
    }

    /// tooz: test_watch_join_group_disappear: when a group goes away, its members are reported
    /// `left`, and the stream goes on (the group can come back).
    @Test(arguments: TestBackends.urls)
    func deletedGroupReportsLeftAndTheStreamGoesOn(url: String) async throws {
        try await withCoordinators(
            url, .plain, .plain, .plain, needing: .membership
        ) { env, watcher, member, comeback in
            let group = env.group()
            try await watcher.createGroup(group)
            try await member.join(group)
            try await withEvents(of: watcher, in: group) { log in
                #expect(log.snapshot?.members.keys.sorted() == [member.member])
                // Leave and delete back to back, likely within one poll.
                try await member.leave(group)
                try await watcher.deleteGroup(group)
                try await log.waitFor(.left(member.member))
                await expectToozError(.groupNotCreated) { _ = try await watcher.members(of: group) }

                try await comeback.joinCreatingGroup(group)
                try await log.waitFor(.joined(comeback.member, capabilities: .nil))
                #expect(log.failure == nil)
                #expect(log.events(about: member.member) == [.left(member.member)])
            }
        }
    }
}
