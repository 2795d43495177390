import Testing
import ToozBackends
import ToozTestKit

/// tooz's test_partitioner (reference §1.13, §3.2), on every backend. The ring follows the
/// group's events inside `run()`, so every check waits for the ring to catch up.
@Suite("Partitioner", .timeLimit(.minutes(5)))
struct PartitionerConformanceTests {
    /// tooz: test_join_partitioned_group: it creates and joins the group, weight in capabilities.
    @Test(arguments: TestBackends.urls)
    func joinPartitionedGroupJoinsWithItsWeight(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            let partitioner = try await coordinator.joinPartitionedGroup(group, weight: 3)
            #expect(partitioner.group == group)
            #expect(partitioner.partitions == 32)
            #expect(try await coordinator.membersWithCapabilities(of: group) == [coordinator.member: ["weight": 3]])
            #expect(partitioner.weights == [coordinator.member: 3])
            #expect(partitioner.members(for: "anything") == [coordinator.member])
            #expect(partitioner.belongsToSelf("anything"))
            try await coordinator.leavePartitionedGroup(partitioner)
            #expect(try await coordinator.members(of: group).isEmpty)
        }
    }

    /// tooz: test_hashring_size: the ring follows other coordinators joining and stopping.
    @Test(arguments: TestBackends.urls)
    func ringSizeFollowsJoinsAndLeaves(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, first in
            let others = try (1..<4).map { _ in try env.coordinator() }
            let group = env.group()
            let partitioner = try await first.joinPartitionedGroup(group)
            #expect(partitioner.weights.count == 1)
            try await others[0].withRunning {
                _ = try await others[0].joinPartitionedGroup(group)
                try await eventually("2 members on the ring") { partitioner.weights.count == 2 }
                try await running([others[1], others[2]]) {
                    _ = try await others[1].joinPartitionedGroup(group)
                    _ = try await others[2].joinPartitionedGroup(group)
                    try await eventually("4 members on the ring") { partitioner.weights.count == 4 }
                    #expect(Set(partitioner.weights.keys) == Set([first.member] + others.map(\.member)))
                }
                try await eventually("2 members after two stopped") { partitioner.weights.count == 2 }
            }
            try await eventually("only this member after the others stopped") {
                partitioner.weights == [first.member: 1]
            }
        }
    }

    /// tooz: test_hashring_weight: weights 5 and 10 are seen by both partitioners.
    @Test(arguments: TestBackends.urls)
    func weightsAreSeenByEveryPartitioner(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            let firstPartitioner = try await first.joinPartitionedGroup(group, weight: 5)
            let secondPartitioner = try await second.joinPartitionedGroup(group, weight: 10)
            let expected = [first.member: 5, second.member: 10]
            try await eventually("both partitioners see weights 5 and 10") {
                firstPartitioner.weights == expected && secondPartitioner.weights == expected
            }
        }
    }

    /// tooz: test_members_of_object_and_others: "чупакабра" belongs to exactly one member, and
    /// `belongs`/`belongsToSelf` agree on both sides.
    @Test(arguments: TestBackends.urls)
    func objectBelongsToExactlyOneMember(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            let firstPartitioner = try await first.joinPartitionedGroup(group)
            let secondPartitioner = try await second.joinPartitionedGroup(group)
            try await eventually("both partitioners see both members") {
                firstPartitioner.weights.count == 2 && secondPartitioner.weights.count == 2
            }
            let key = "чупакабра"
            let owners = firstPartitioner.members(for: key)
            #expect(owners.count == 1)
            #expect(secondPartitioner.members(for: key) == owners)
            let owner = try #require(owners.first)
            #expect(firstPartitioner.belongs(key, to: owner))
            #expect(secondPartitioner.belongs(key, to: owner))
            #expect(firstPartitioner.belongsToSelf(key) == (owner == first.member))
            #expect(secondPartitioner.belongsToSelf(key) == (owner == second.member))
            #expect(firstPartitioner.belongsToSelf(key) != secondPartitioner.belongsToSelf(key))
            #expect(firstPartitioner.members(for: key, replicas: 2) == [first.member, second.member])
            #expect(firstPartitioner.members(for: key, ignoring: [owner]).count == 1)
            #expect(!firstPartitioner.members(for: key, ignoring: [owner]).contains(owner))
        }
    }

    /// tooz: test_stop: a stopped partitioner no longer follows the group.
    @Test(arguments: TestBackends.urls)
    func stoppedPartitionerNoLongerFollows(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            let stopped = try await first.joinPartitionedGroup(group)
            // Follows the same group the same way: the marker that the join was delivered.
            let following = try await first.partitioner(for: group)
            stopped.stop()
            _ = try await second.joinPartitionedGroup(group)
            try await eventually("a following partitioner sees the join") { following.weights.count == 2 }
            #expect(stopped.weights == [first.member: 1])
        }
    }
}
