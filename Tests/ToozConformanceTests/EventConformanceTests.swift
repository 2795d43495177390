import Testing
import ToozBackends
import ToozTestKit

/// Group event streams (DESIGN §1.4; tooz's watch_* tests, reference §1.6 and §3.2), on every
/// backend: a snapshot first, then joins, leaves, capability changes and leader changes.
@Suite("Events", .timeLimit(.minutes(2)))
struct EventConformanceTests {
    /// The first element is a snapshot of the group as it is.
    @Test(arguments: TestBackends.urls)
    func eventsStartWithASnapshot(url: String) async throws {
        try await withEnvironment(url) { env in
            let first = try env.coordinator()
            let second = try env.coordinator()
            let group = env.group()
            try await running([first, second]) {
                guard await env.supports(.membership, on: first, otherwise: { _ = try first.events(in: group) })
                else { return }
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
    }

    /// tooz: test_watch_group_join / test_watch_leave_group: `joined` then `left`, in order,
    /// with the joiner's capabilities.
    @Test(arguments: TestBackends.urls)
    func joinAndLeaveAreReportedInOrder(url: String) async throws {
        try await withEnvironment(url) { env in
            let watcher = try env.coordinator()
            let joiner = try env.coordinator()
            let group = env.group()
            try await watcher.withRunning {
                guard await env.supports(.membership, on: watcher, otherwise: { _ = try watcher.events(in: group) })
                else { return }
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
    }

    /// An update of a member's capabilities is reported as `capabilitiesChanged`.
    @Test(arguments: TestBackends.urls)
    func capabilityUpdatesAreReported(url: String) async throws {
        try await withEnvironment(url) { env in
            let watcher = try env.coordinator()
            let member = try env.coordinator()
            let group = env.group()
            try await running([watcher, member]) {
                guard await env.supports(.updateCapabilities, on: member, otherwise: {
                    try await member.updateCapabilities(["v": 2], in: group)
                }) else { return }
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
    }

    /// Leadership changes are reported as `leaderChanged`, including "nobody leads".
    @Test(arguments: TestBackends.urls)
    func leaderChangesAreReported(url: String) async throws {
        try await withEnvironment(url) { env in
            let watcher = try env.coordinator()
            let candidate = try env.coordinator()
            let group = env.group()
            try await running([watcher, candidate]) {
                guard await env.supports(.leaderElection, on: candidate, otherwise: {
                    try await candidate.campaign(for: group, wait: .never)
                }) else { return }
                guard await env.supports(.leaderQuery, on: watcher, otherwise: { _ = try await watcher.leader(of: group) })
                else { return }
                guard await env.supports(.membership, on: watcher, otherwise: { _ = try watcher.events(in: group) })
                else { return }
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
    }

    /// tooz: test_watch_join_group_non_existent: the first `next()` throws `groupNotCreated`.
    @Test(arguments: TestBackends.urls)
    func eventsOfNonExistentGroupThrowGroupNotCreated(url: String) async throws {
        try await withEnvironment(url) { env in
            let coordinator = try env.coordinator()
            let group = env.group()
            try await coordinator.withRunning {
                guard await env.supports(.membership, on: coordinator, otherwise: { _ = try coordinator.events(in: group) })
                else { return }
                var events = try coordinator.events(in: group).makeAsyncIterator()
                await expectToozError(.groupNotCreated) { _ = try await events.next() }
            }
        }
    }

    /// tooz: test_watch_join_group_disappear: when a group goes away, its members are reported
    /// `left`, and the stream goes on (the group can come back).
    @Test(arguments: TestBackends.urls)
    func deletedGroupReportsLeftAndTheStreamGoesOn(url: String) async throws {
        try await withEnvironment(url) { env in
            let watcher = try env.coordinator()
            let member = try env.coordinator()
            let comeback = try env.coordinator()
            let group = env.group()
            try await running([watcher, member, comeback]) {
                guard await env.supports(.membership, on: watcher, otherwise: { _ = try watcher.events(in: group) })
                else { return }
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
}
