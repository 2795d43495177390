import Testing
import ToozBackends
import ToozTestKit

/// tooz's `TestAPI` group and membership cases (reference §3.2), on every backend.
@Suite("Groups and membership", .timeLimit(.minutes(5)))
struct GroupConformanceTests {
    // MARK: Groups

    /// tooz: test_create_group.
    @Test(arguments: TestBackends.urls)
    func createdGroupIsListed(url: String) async throws {
        try await withCoordinator(url, needing: .groups) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            #expect(try await coordinator.groups().contains(group))
        }
    }

    /// tooz: test_create_group_already_exist.
    @Test(arguments: TestBackends.urls)
    func createExistingGroupThrowsGroupAlreadyExists(url: String) async throws {
        try await withCoordinator(url, needing: .groups) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            await expectToozError(.groupAlreadyExists) { try await coordinator.createGroup(group) }
            #expect(try await coordinator.createGroupIfNeeded(group) == false)
        }
    }

    /// tooz: test_get_groups (five groups).
    @Test(arguments: TestBackends.urls)
    func groupsListsFiveCreatedGroups(url: String) async throws {
        try await withCoordinator(url, needing: .groups) { env, coordinator in
            let groups = Set((0..<5).map { _ in env.group() })
            for group in groups { try await coordinator.createGroup(group) }
            let listed = try await coordinator.groups()
            #expect(groups.isSubset(of: listed))
            #expect(listed.filter { $0.rawValue.hasPrefix(env.prefix) } == groups)
        }
    }

    /// tooz: test_delete_group: gone from the list, and joining it fails.
    @Test(arguments: TestBackends.urls)
    func deletedGroupIsGoneAndCannotBeJoined(url: String) async throws {
        try await withCoordinator(url, needing: .groups) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.deleteGroup(group)
            #expect(try await !coordinator.groups().contains(group))
            if coordinator.info.features.contains(.membership) {
                await expectToozError(.groupNotCreated) { try await coordinator.join(group) }
            }
        }
    }

    /// tooz: test_delete_group_non_existent.
    @Test(arguments: TestBackends.urls)
    func deleteNonExistentGroupThrowsGroupNotCreated(url: String) async throws {
        try await withCoordinator(url, needing: .groups) { env, coordinator in
            let group = env.group()
            await expectToozError(.groupNotCreated) { try await coordinator.deleteGroup(group) }
        }
    }

    /// tooz: test_delete_group_non_empty: refused while a member remains, fine after it left.
    @Test(arguments: TestBackends.urls)
    func deleteNonEmptyGroupThrowsGroupNotEmpty(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.join(group)
            await expectToozError(.groupNotEmpty) { try await coordinator.deleteGroup(group) }
            try await coordinator.leave(group)
            try await coordinator.deleteGroup(group)
            #expect(try await !coordinator.groups().contains(group))
        }
    }

    // MARK: Join and leave

    /// tooz: test_join_group.
    @Test(arguments: TestBackends.urls)
    func joinedMemberIsListed(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.join(group)
            #expect(try await coordinator.members(of: group) == [coordinator.member])
            #expect(coordinator.joinedGroups == [group])
        }
    }

    /// tooz: test_join_nonexistent_group.
    @Test(arguments: TestBackends.urls)
    func joinNonExistentGroupThrowsGroupNotCreated(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            await expectToozError(.groupNotCreated) { try await coordinator.join(group) }
            #expect(coordinator.joinedGroups.isEmpty)
        }
    }

    /// tooz: test_join_group_create.
    @Test(arguments: TestBackends.urls)
    func joinCreatingGroupCreatesAndJoins(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.joinCreatingGroup(group, capabilities: ["role": "worker"])
            #expect(try await coordinator.groups().contains(group))
            #expect(try await coordinator.membersWithCapabilities(of: group) == [coordinator.member: ["role": "worker"]])
        }
    }

    /// tooz: test_join_group_with_member_id_already_exists (a second coordinator, same id).
    @Test(arguments: TestBackends.urls)
    func joinWithMemberIDJoinedByAnotherCoordinatorThrowsMemberAlreadyJoined(url: String) async throws {
        try await withCoordinators(url, .plain, .twin, needing: .membership) { env, first, second in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group)
            await expectToozError(.memberAlreadyJoined) { try await second.join(group) }
            #expect(second.joinedGroups.isEmpty)
            #expect(try await first.members(of: group) == [first.member])
        }
    }

    /// tooz: test_leave_group.
    @Test(arguments: TestBackends.urls)
    func leftMemberIsGone(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.join(group)
            try await coordinator.leave(group)
            #expect(try await coordinator.members(of: group).isEmpty)
            #expect(coordinator.joinedGroups.isEmpty)
        }
    }

    /// tooz: test_leave_nonexistent_group: `memberNotJoined` or `groupNotCreated`.
    @Test(arguments: TestBackends.urls)
    func leaveNonExistentGroupThrows(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            await expectToozError(.memberNotJoined, .groupNotCreated) { try await coordinator.leave(group) }
        }
    }

    /// tooz: test_leave_group_not_joined_by_member.
    @Test(arguments: TestBackends.urls)
    func leaveGroupNotJoinedThrowsMemberNotJoined(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            await expectToozError(.memberNotJoined) { try await coordinator.leave(group) }
        }
    }

    /// tooz: test_get_members: two coordinators give exactly both ids.
    @Test(arguments: TestBackends.urls)
    func membersOfTwoCoordinatorsAreExactlyBoth(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group)
            try await second.join(group)
            #expect(try await first.members(of: group) == [first.member, second.member])
            #expect(try await second.members(of: group) == [first.member, second.member])
        }
    }

    // MARK: Capabilities

    /// tooz: test_get_member_capabilities.
    @Test(arguments: TestBackends.urls)
    func simpleCapabilitiesRoundTrip(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            let capabilities: Capabilities = ["type": "warrior", "weight": 3]
            try await coordinator.createGroup(group)
            try await coordinator.join(group, capabilities: capabilities)
            #expect(try await coordinator.capabilities(of: coordinator.member, in: group) == capabilities)
        }
    }

    /// tooz: test_get_member_capabilities_complex, widened to every value kind oslo msgpack carries.
    @Test(arguments: TestBackends.urls)
    func complexCapabilitiesRoundTrip(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .membership) { env, first, second in
            let group = env.group()
            let capabilities: Capabilities = [
                "cap1": "value1",
                "cap2": ["nested": ["list": [1, 2, 3], "deeper": ["a": true, "b": false]]],
                "list": [1, -2, "three", .binary([0, 255, 7]), nil, true, 2.5, []],
                "bytes": .binary(Array("blob\u{0}".utf8)),
                "none": nil,
                "bool": false,
                "double": -0.125,
                "negative": -9_000_000_000,
                "int64 min": .int(Int64.min),
                "uint64 max": .uint(UInt64.max),
                "чупакабра": "значение ✓ 日本語",
                "empty map": [:],
            ]
            try await first.createGroup(group)
            try await first.join(group, capabilities: capabilities)
            #expect(try await second.capabilities(of: first.member, in: group) == capabilities)
            #expect(try await second.membersWithCapabilities(of: group)[first.member] == capabilities)
        }
    }

    /// tooz: test_get_members_with_capabilities.
    @Test(arguments: TestBackends.urls)
    func membersWithCapabilities(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.join(group, capabilities: ["a": 1])
            #expect(try await coordinator.membersWithCapabilities(of: group) == [coordinator.member: ["a": 1]])
        }
    }

    /// tooz: test_get_members_with_capabilities_multiple.
    @Test(arguments: TestBackends.urls)
    func membersWithCapabilitiesOfSeveralMembers(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, .plain, needing: .membership) { env, first, second, third in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group, capabilities: ["n": 1])
            try await second.join(group, capabilities: ["n": 2, "s": "two"])
            try await third.join(group)
            let expected: [MemberID: Capabilities] = [
                first.member: ["n": 1], second.member: ["n": 2, "s": "two"], third.member: .nil,
            ]
            #expect(try await first.membersWithCapabilities(of: group) == expected)
            #expect(try await third.membersWithCapabilities(of: group) == expected)
        }
    }

    /// tooz: test_get_members_with_capabilities_nonexistent_group.
    @Test(arguments: TestBackends.urls)
    func membersWithCapabilitiesOfNonExistentGroupThrowsGroupNotCreated(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            await expectToozError(.groupNotCreated) { _ = try await coordinator.membersWithCapabilities(of: group) }
            await expectToozError(.groupNotCreated) { _ = try await coordinator.members(of: group) }
        }
    }

    /// tooz: test_get_members_with_capabilities_empty_group.
    @Test(arguments: TestBackends.urls)
    func membersWithCapabilitiesOfEmptyGroupIsEmpty(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            #expect(try await coordinator.membersWithCapabilities(of: group).isEmpty)
        }
    }

    /// tooz: test_get_members_with_capabilities_no_caps: a member without capabilities has `nil`
    /// (tooz 9.x stores `None`).
    @Test(arguments: TestBackends.urls)
    func memberWithoutCapabilitiesHasNil(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            try await coordinator.join(group)
            #expect(try await coordinator.membersWithCapabilities(of: group) == [coordinator.member: .nil])
            #expect(try await coordinator.capabilities(of: coordinator.member, in: group) == .nil)
        }
    }

    /// tooz: test_get_member_capabilities_nonexistent_group.
    @Test(arguments: TestBackends.urls)
    func capabilitiesInNonExistentGroupThrows(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            await expectToozError(.memberNotJoined, .groupNotCreated) {
                _ = try await coordinator.capabilities(of: coordinator.member, in: group)
            }
        }
    }

    /// tooz: test_get_member_capabilities_nonjoined_member.
    @Test(arguments: TestBackends.urls)
    func capabilitiesOfNonJoinedMemberThrowsMemberNotJoined(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, coordinator in
            let group = env.group()
            let stranger = env.member()
            try await coordinator.createGroup(group)
            try await coordinator.join(group)
            await expectToozError(.memberNotJoined) { _ = try await coordinator.capabilities(of: stranger, in: group) }
        }
    }

    /// tooz: test_update_capabilities: v1 then v2, visible to another coordinator.
    @Test(arguments: TestBackends.urls)
    func updatedCapabilitiesAreVisible(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .updateCapabilities) { env, first, second in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group, capabilities: ["v": 1])
            #expect(try await second.capabilities(of: first.member, in: group) == ["v": 1])
            try await first.updateCapabilities(["v": 2, "extra": [1, "x"]], in: group)
            #expect(try await second.capabilities(of: first.member, in: group) == ["v": 2, "extra": [1, "x"]])
            #expect(try await second.membersWithCapabilities(of: group) == [first.member: ["v": 2, "extra": [1, "x"]]])
        }
    }

    /// tooz: test_update_capabilities_with_group_id_nonexistent.
    @Test(arguments: TestBackends.urls)
    func updateCapabilitiesInNonExistentGroupThrows(url: String) async throws {
        try await withCoordinator(url, needing: .updateCapabilities) { env, coordinator in
            let group = env.group()
            await expectToozError(.memberNotJoined, .groupNotCreated) {
                try await coordinator.updateCapabilities(["v": 1], in: group)
            }
        }
    }

    // MARK: Lifecycle and liveness

    /// tooz: test_disconnect_leave_group: a coordinator whose `run()` ended is no longer a member.
    @Test(arguments: TestBackends.urls)
    func stoppedCoordinatorHasLeftItsGroups(url: String) async throws {
        try await withCoordinator(url, needing: .membership) { env, first in
            let second = try env.coordinator()
            let groups = [env.group(), env.group()]
            for group in groups {
                try await first.createGroup(group)
                try await first.join(group)
            }
            try await second.withRunning {
                for group in groups { try await second.join(group) }
                #expect(try await first.members(of: groups[0]) == [first.member, second.member])
            }
            for group in groups {
                #expect(try await first.members(of: group) == [first.member])
            }
            #expect(second.joinedGroups.isEmpty)
        }
    }

    /// tooz: test_timeout. A member that stops heartbeating (here: one that joined through a bare
    /// backend, which has no heartbeat, and then disconnected without leaving, as a crash would)
    /// drops out of the members, and the event stream reports `left` for it exactly once.
    /// TTL backends expire it, the file backend by mtime, session backends when the session ends.
    @Test(arguments: TestBackends.urls)
    func crashedMemberDropsOutAndIsReportedLeftOnce(url: String) async throws {
        // The watcher and the late member must stay members meanwhile: heartbeats every 3.3 s
        // keep them through a loaded machine's stalls of several seconds.
        let timings = Timings(membershipTTL: 10)
        try await withCoordinator(url, needing: .membership, timings: timings) { env, watcher in
            let late = try env.coordinator(timings: timings)
            let crashed = env.member()
            let group = env.group()
            try await watcher.createGroup(group)
            try await watcher.join(group)
            try await withEvents(of: watcher, in: group) { log in
                let raw = try env.rawBackend(timings: timings)
                try await raw.connect()
                try await raw.join(group, member: crashed, capabilities: ["crash": true])
                try await log.waitFor(.joined(crashed, capabilities: ["crash": true]))
                await raw.disconnect()

                try await eventually("the crashed member drops out of the members") {
                    try await !watcher.members(of: group).contains(crashed)
                }
                try await log.waitFor(.left(crashed))
                // A later change is the marker that the stream went on past the expiry.
                try await late.withRunning {
                    try await late.join(group)
                    try await log.waitFor(.joined(late.member, capabilities: .nil))
                }
                #expect(log.events(about: crashed) == [.joined(crashed, capabilities: ["crash": true]), .left(crashed)])
                #expect(try await watcher.members(of: group) == [watcher.member], "the heartbeating member stays")
            }
        }
    }
}
