import Testing
import ToozBackends
import ToozTestKit

/// Regression cases for tooz 9.1.0's known bugs (reference §4.2; §3.3 lists the ones tooz's own
/// suite misses), and name validation at the API edge (DESIGN §4), on every backend.
@Suite("Regressions and names", .timeLimit(.minutes(5)))
struct RegressionConformanceTests {
    // MARK: §4.2 regressions

    /// §4.2.1 (ZooKeeper `get_leader` created the group): asking who leads a group that does
    /// not exist creates nothing.
    @Test(arguments: TestBackends.urls)
    func leaderQueryDoesNotCreateTheGroup(url: String) async throws {
        try await withCoordinator(url, needing: .leaderQuery) { env, coordinator async throws in
            let group = env.group()
            #expect(try await coordinator.leader(of: group) == nil)
            if coordinator.info.features.contains(.groups) {
                #expect(try await !coordinator.groups().contains(group))
            }
            if coordinator.info.features.contains(.membership) {
                await expectToozError(.groupNotCreated) { _ = try await coordinator.members(of: group) }
            }
        }
    }

    /// §4.2.1 (ZooKeeper's `leader` node listed as a member, and blocking `delete_group`): the
    /// leader, member or not, never appears among the members, and the group can be deleted
    /// after an election.
    @Test(arguments: TestBackends.urls)
    func leaderDoesNotAppearAsAMember(url: String) async throws {
        try await withCoordinators(
            url, .plain, .plain, needing: [.leaderElection, .membership]
        ) { env, member, outsider in
            let group = env.group()
            try await member.createGroup(group)
            try await member.join(group)
            try await outsider.campaign(for: group)
            #expect(try await member.members(of: group) == [member.member], "a leader that did not join")
            #expect(try await outsider.standDown(from: group))
            try await member.campaign(for: group)
            #expect(try await outsider.membersWithCapabilities(of: group) == [member.member: .nil], "a leader that joined")
            #expect(try await member.standDown(from: group))
            try await member.leave(group)
            #expect(try await member.members(of: group).isEmpty)
            try await member.deleteGroup(group)
            #expect(try await !member.groups().contains(group))
        }
    }

    /// §4.2.2 (ZooKeeper's lock root listed as group `locks`) and §4.2.4 (etcd's member keys
    /// listed as junk groups): `groups()` holds exactly the groups that were created, whatever
    /// locks, memberships and elections exist.
    @Test(arguments: TestBackends.urls)
    func groupsContainExactlyTheCreatedGroups(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .groups) { env, coordinator, other in
            let created = [env.group(), env.group(), env.group()]
            let name = env.lockName()
            for group in created { try await coordinator.createGroup(group) }
            let features = coordinator.info.features
            if features.contains(.membership) {
                try await coordinator.join(created[0], capabilities: ["weight": 1])
                try await other.join(created[0])
                try await other.join(created[1])
            }
            if features.contains(.locks) { try await coordinator.lock(named: name).acquire() }
            if features.contains(.leaderElection) { try await other.campaign(for: created[1]) }

            func check(_ expected: Set<GroupID>) async throws {
                let listed = try await coordinator.groups()
                #expect(!listed.contains(GroupID(name.rawValue)), "a lock shows up as a group")
                #expect(!listed.contains("locks") && !listed.contains("leader"), "a pseudo-group: \(listed)")
                #expect(listed.filter { $0.rawValue.hasPrefix(env.prefix) } == expected, "junk in \(listed)")
                if env.isIsolated { #expect(listed == expected) }
            }
            try await check(Set(created))
            try await coordinator.deleteGroup(created[2])
            try await check(Set(created.prefix(2)))
        }
    }

    /// §4.2.3 and §4.2.6 (LockTimeout / RetryError after a wait limit): a wait-limited acquire of
    /// a busy lock ends in a clean `lockBusy`, leaves nothing behind, and the lock works after.
    @Test(arguments: TestBackends.urls)
    func waitLimitedAcquireOfBusyLockEndsInLockBusyCleanly(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, holder, waiter in
            let name = env.lockName()
            let held = try holder.lock(named: name)
            try await held.acquire()
            let waiting = try waiter.lock(named: name)
            for _ in 0..<3 {
                let error = await expectToozError(.lockBusy) { try await waiting.acquire(wait: .upTo(.milliseconds(300))) }
                #expect(error?.message.contains(name.rawValue) == true, "\(String(describing: error))")
            }
            #expect(waiting.lease == nil)
            #expect(try await held.release())
            #expect(try await waiting.tryAcquire() != nil, "a timed-out wait left nothing behind")
            #expect(try await waiting.release())
            #expect(try await held.tryAcquire() != nil)
            #expect(try await held.release())
        }
    }

    /// §4.2.5 (etcd's `stop()` left locks until their TTL): a coordinator whose `run()` ended has
    /// released its locks and leadership; another member takes them at once.
    @Test(arguments: TestBackends.urls)
    func stoppedCoordinatorHasReleasedItsLocksAndLeadership(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, other in
            let stopping = try env.coordinator()
            let name = env.lockName()
            let group = env.group()
            let leads = other.info.features.contains(.leaderElection)
            try await stopping.withRunning {
                try await stopping.lock(named: name).acquire()
                if leads { try await stopping.campaign(for: group) }
                #expect(try await other.lock(named: name).tryAcquire() == nil)
            }
            let lock = try other.lock(named: name)
            #expect(try await lock.acquire(wait: .never).member == other.member)
            #expect(try await lock.release())
            if leads {
                #expect(try await other.campaign(for: group, wait: .never).member == other.member)
            } else {
                await env.expectNotImplemented(on: other) { try await other.campaign(for: group, wait: .never) }
            }
        }
    }

    /// §4.2.7 (Redis `join_group` overwrote the capabilities before reporting
    /// MemberAlreadyExist): a refused join changes nothing.
    @Test(arguments: TestBackends.urls)
    func refusedJoinKeepsTheCapabilities(url: String) async throws {
        try await withCoordinators(url, .plain, .twin, needing: .membership) { env, first, twin in
            let group = env.group()
            try await first.createGroup(group)
            try await first.join(group, capabilities: ["original": true])
            await expectToozError(.memberAlreadyJoined) { try await twin.join(group, capabilities: ["overwritten": true]) }
            #expect(try await first.capabilities(of: first.member, in: group) == ["original": true])
        }
    }

    /// §4.2.7 (Redis `delete_group` counted dead members until someone listed the group): a
    /// group whose only member crashed can be deleted once that member has expired, without
    /// listing its members first.
    @Test(arguments: TestBackends.urls)
    func groupOfACrashedMemberCanBeDeleted(url: String) async throws {
        let timings = Timings(membershipTTL: 3)
        try await withCoordinator(url, needing: .membership, timings: timings) { env, coordinator in
            let group = env.group()
            try await coordinator.createGroup(group)
            let raw = try env.rawBackend(timings: timings)
            try await raw.connect()
            try await raw.join(group, member: env.member(), capabilities: .nil)
            await raw.disconnect()
            try await eventually("the group of a crashed member can be deleted") {
                do {
                    try await coordinator.deleteGroup(group)
                    return true
                } catch let error as ToozError where error.code == .groupNotEmpty {
                    return false
                }
            }
            #expect(try await !coordinator.groups().contains(group))
        }
    }

    // MARK: Names and sizes (DESIGN §4)

    /// Empty names, NUL characters and over-long names are refused with `invalidArgument` before
    /// any I/O. The coordinator is never run, so any call that reached I/O would wait for `run()`
    /// and fail with `notRunning` instead. Calls whose feature the backend lacks throw
    /// `notImplemented` first.
    @Test(arguments: TestBackends.urls)
    func badNamesAreRefusedBeforeIO(url: String) async throws {
        try await withEnvironment(url) { env in
            let probe = try env.coordinator()
            let rules = probe.info.nameRules
            var badNames = ["", "a\u{0}b"]
            if rules.maximumLength < 1 << 20 { badNames.append(String(repeating: "x", count: rules.maximumLength + 1)) }
            let good = env.group()

            func refused(_ feature: BackendFeatures, _ call: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
                if probe.info.features.contains(feature) {
                    await expectToozError(.invalidArgument, sourceLocation: sourceLocation, call)
                } else {
                    await env.expectNotImplemented(on: probe, sourceLocation: sourceLocation, call)
                }
            }

            for bad in badNames {
                let group = GroupID(bad)
                let member = MemberID(bad)
                let lock = LockName(bad)
                await expectToozError(.invalidArgument) { _ = try Coordinator(url: env.url(), member: member) }
                await refused(.groups) { try await probe.createGroup(group) }
                await refused(.groups) { try await probe.deleteGroup(group) }
                await refused(.membership) { try await probe.join(group) }
                await refused(.membership) { try await probe.joinCreatingGroup(group) }
                await refused(.membership) { _ = try await probe.joinPartitionedGroup(group) }
                await refused(.membership) { try await probe.leave(group) }
                await refused(.membership) { _ = try await probe.members(of: group) }
                await refused(.membership) { _ = try await probe.membersWithCapabilities(of: group) }
                await refused(.membership) { _ = try await probe.capabilities(of: probe.member, in: group) }
                await refused(.membership) { _ = try await probe.capabilities(of: member, in: good) }
                await refused(.membership) { _ = try probe.events(in: group) }
                await refused(.updateCapabilities) { try await probe.updateCapabilities(["v": 1], in: group) }
                await refused(.leaderElection) { try await probe.campaign(for: group) }
                await refused(.leaderElection) { try await probe.withLeadership(of: group) { _ in } }
                await refused(.leaderElection) { try await probe.standDown(from: group) }
                await refused(.leaderQuery) { _ = try await probe.leader(of: group) }
                await refused(.locks) { _ = try probe.lock(named: lock) }
                await refused(.locks) { try await probe.withLock(named: lock) { _ in } }
            }
        }
    }

    /// Every call that needs a feature the backend lacks throws `notImplemented` naming the
    /// backend, on a running coordinator and with valid names. (The other cases check one such
    /// call per feature, through `withCoordinator(_:_:needing:timings:caseName:_:)`.)
    @Test(arguments: TestBackends.urls)
    func everyCallOfAMissingFeatureThrowsNotImplemented(url: String) async throws {
        try await withCoordinator(url, needing: []) { env, coordinator in
            let group = env.group()
            let lock = env.lockName()
            let features = coordinator.info.features

            func missing(
                _ feature: BackendFeatures, sourceLocation: SourceLocation = #_sourceLocation,
                _ call: () async throws -> Void
            ) async {
                guard !features.contains(feature) else { return }
                await env.expectNotImplemented(on: coordinator, sourceLocation: sourceLocation, call)
            }

            await missing(.groups) { try await coordinator.createGroup(group) }
            await missing(.groups) { _ = try await coordinator.createGroupIfNeeded(group) }
            await missing(.groups) { try await coordinator.deleteGroup(group) }
            await missing(.groups) { _ = try await coordinator.groups() }
            await missing(.membership) { try await coordinator.join(group) }
            await missing(.membership) { try await coordinator.joinCreatingGroup(group) }
            await missing(.membership) { _ = try await coordinator.joinPartitionedGroup(group) }
            await missing(.membership) { try await coordinator.leave(group) }
            await missing(.membership) { _ = try await coordinator.members(of: group) }
            await missing(.membership) { _ = try await coordinator.membersWithCapabilities(of: group) }
            await missing(.membership) { _ = try await coordinator.capabilities(of: coordinator.member, in: group) }
            await missing(.membership) { _ = try coordinator.events(in: group) }
            await missing(.updateCapabilities) { try await coordinator.updateCapabilities(["v": 2], in: group) }
            await missing(.leaderElection) { try await coordinator.campaign(for: group, wait: .never) }
            await missing(.leaderElection) { try await coordinator.withLeadership(of: group) { _ in } }
            await missing(.leaderElection) { try await coordinator.standDown(from: group) }
            await missing(.leaderQuery) { _ = try await coordinator.leader(of: group) }
            await missing(.locks) { _ = try coordinator.lock(named: lock) }
            await missing(.locks) { try await coordinator.withLock(named: lock) { _ in } }
            await missing(.breakLock) { _ = try await coordinator.lock(named: lock).breakLock() }
        }
    }

    /// Capabilities larger than the backend stores are refused with `invalidArgument` before
    /// any I/O (on a coordinator that never runs, as above).
    @Test(arguments: TestBackends.urls)
    func oversizedCapabilitiesAreRefusedBeforeIO(url: String) async throws {
        try await withEnvironment(url) { env in
            let probe = try env.coordinator()
            let group = env.group()
            let limit = probe.info.maximumCapabilitiesSize
            guard limit < 64 << 20 else {
                Issue.record("the \(probe.info.name) backend declares no practical capabilities limit (\(limit) bytes)")
                return
            }
            let oversized: Capabilities = ["blob": .binary([UInt8](repeating: 0x5a, count: limit + 1))]
            guard probe.info.features.contains(.membership) else {
                // The missing feature is reported first, whatever the size.
                await env.expectNotImplemented(on: probe) { try await probe.join(group, capabilities: oversized) }
                env.recordNotImplemented(.membership)
                return
            }
            await expectToozError(.invalidArgument) { try await probe.join(group, capabilities: oversized) }
            await expectToozError(.invalidArgument) { try await probe.joinCreatingGroup(group, capabilities: oversized) }
            if probe.info.features.contains(.updateCapabilities) {
                await expectToozError(.invalidArgument) { try await probe.updateCapabilities(oversized, in: group) }
            } else {
                await env.expectNotImplemented(on: probe) { try await probe.updateCapabilities(oversized, in: group) }
            }
        }
    }
}
