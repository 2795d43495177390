import Testing
import ToozBackends
import ToozTestKit

/// tooz's `TestAPI` election cases (reference §1.7, §3.2) and the scoped leadership of
/// DESIGN §1, on every backend.
@Suite("Leader election", .timeLimit(.minutes(5)))
struct LeaderConformanceTests {
    /// tooz: test_run_for_election: a single runner is elected.
    @Test(arguments: TestBackends.urls)
    func singleRunnerIsElected(url: String) async throws {
        try await withCoordinator(url, needing: .leaderElection) { env, coordinator in
            let group = env.group()
            if coordinator.info.features.contains(.membership) {
                try await coordinator.joinCreatingGroup(group)
            }
            let lease = try await coordinator.campaign(for: group, wait: .upTo(.testPatience))
            #expect(lease.key == .leadership(group))
            #expect(lease.member == coordinator.member)
            #expect(lease.state == .held)
            #expect(coordinator.currentLeadership(of: group) === lease)
            if coordinator.info.features.contains(.leaderQuery) {
                #expect(try await coordinator.leader(of: group) == coordinator.member)
            }
            await expectToozError(.lockAlreadyHeld) { try await coordinator.campaign(for: group) }
            #expect(try await coordinator.standDown(from: group) == true)
            #expect(lease.state == .released)
        }
    }

    /// tooz: test_run_for_election_multiple_clients: the first runner wins, the second waits,
    /// and wins once the leader stands down.
    @Test(arguments: TestBackends.urls)
    func secondCampaignerWinsWhenTheLeaderStandsDown(url: String) async throws {
        try await withCoordinators(url, .plain, .faulty, needing: .leaderElection) { env, first, second in
            let faults = env.faults(of: second)
            let group = env.group()
            let queries = first.info.features.contains(.leaderQuery)
            try await first.campaign(for: group, wait: .never)
            await expectToozError(.lockBusy) { try await second.campaign(for: group, wait: .never) }
            if queries { #expect(try await second.leader(of: group) == first.member) }

            let busy = faults.timeline.count(of: "backend-tryAcquire-busy")
            async let won = second.campaign(for: group, wait: .upTo(.testPatience))
            try await eventually("the second campaigner is waiting") {
                faults.timeline.count(of: "backend-tryAcquire-busy") > busy
            }
            #expect(second.currentLeadership(of: group) == nil)
            #expect(try await first.standDown(from: group) == true)
            let lease = try await won
            #expect(lease.member == second.member)
            #expect(first.currentLeadership(of: group) == nil)
            #expect(try await first.standDown(from: group) == false, "no longer leads")
            if queries { #expect(try await first.leader(of: group) == second.member) }
        }
    }

    /// tooz: test_run_for_election_multiple_clients (second half): when the leader's coordinator
    /// stops, the waiting campaigner wins.
    @Test(arguments: TestBackends.urls)
    func secondCampaignerWinsWhenTheLeaderStops(url: String) async throws {
        try await withCoordinator(url, .faulty, needing: .leaderElection) { env, second in
            let faults = env.faults(of: second)
            let first = try env.coordinator()
            let group = env.group()
            let firstLeads = TestSignal()
            let firstMayStop = TestSignal()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await first.withRunning {
                        try await first.campaign(for: group, wait: .never)
                        firstLeads.fire()
                        try await firstMayStop.wait("the test lets the leader stop")
                    }
                }
                try await firstLeads.wait("the first coordinator leads")
                let busy = faults.timeline.count(of: "backend-tryAcquire-busy")
                async let won = second.campaign(for: group, wait: .upTo(.testPatience))
                try await eventually("the second campaigner is waiting") {
                    faults.timeline.count(of: "backend-tryAcquire-busy") > busy
                }
                firstMayStop.fire()
                let lease = try await won
                #expect(lease.member == second.member)
                try await tasks.waitForAll()
            }
            if second.info.features.contains(.leaderQuery) {
                #expect(try await second.leader(of: group) == second.member)
            }
        }
    }

    /// tooz: test_get_leader: nobody leads before an election, even after joining; then self.
    @Test(arguments: TestBackends.urls)
    func leaderIsNilBeforeElectionThenSelf(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .leaderQuery) { env, coordinator, other in
            let group = env.group()
            #expect(try await coordinator.leader(of: group) == nil)
            if coordinator.info.features.contains(.membership) {
                try await coordinator.joinCreatingGroup(group)
                #expect(try await coordinator.leader(of: group) == nil, "joining does not elect")
            }
            guard await env.supports(.leaderElection, on: coordinator) else { return }
            try await coordinator.campaign(for: group)
            #expect(try await coordinator.leader(of: group) == coordinator.member)
            #expect(try await other.leader(of: group) == coordinator.member)
            try await coordinator.standDown(from: group)
            #expect(try await other.leader(of: group) == nil)
        }
    }

    /// tooz: test_run_for_election_multiple_clients_stand_down: leadership goes back and forth.
    @Test(arguments: TestBackends.urls)
    func leadershipGoesBackAndForthThroughStandDown(url: String) async throws {
        try await withCoordinators(url, .faulty, .faulty, needing: .leaderElection) { env, first, second in
            let firstFaults = env.faults(of: first)
            let secondFaults = env.faults(of: second)
            let group = env.group()
            let queries = first.info.features.contains(.leaderQuery)
            @Sendable func handOver(from leader: Coordinator, to next: Coordinator, _ faults: Faults) async throws {
                let busy = faults.timeline.count(of: "backend-tryAcquire-busy")
                async let won = next.campaign(for: group, wait: .upTo(.testPatience))
                try await eventually("\(next.member) is waiting for the leadership") {
                    faults.timeline.count(of: "backend-tryAcquire-busy") > busy
                }
                #expect(try await leader.standDown(from: group) == true)
                #expect(try await won.member == next.member)
                #expect(leader.currentLeadership(of: group) == nil)
                if queries { #expect(try await leader.leader(of: group) == next.member) }
            }
            try await first.campaign(for: group)
            try await handOver(from: first, to: second, secondFaults)
            try await handOver(from: second, to: first, firstFaults)
            try await handOver(from: first, to: second, secondFaults)
            #expect(try await second.standDown(from: group) == true)
            if queries { #expect(try await first.leader(of: group) == nil) }
        }
    }

    /// `withLeadership` runs its body as leader and stands down after it.
    @Test(arguments: TestBackends.urls)
    func withLeadershipStandsDownAfterTheBody(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .leaderElection) { env, coordinator, other in
            let group = env.group()
            let value = try await coordinator.withLeadership(of: group) { lease in
                #expect(coordinator.currentLeadership(of: group) === lease)
                await expectToozError(.lockBusy) { try await other.campaign(for: group, wait: .never) }
                return 7
            }
            #expect(value == 7)
            #expect(coordinator.currentLeadership(of: group) == nil)
            if coordinator.info.features.contains(.leaderQuery) {
                #expect(try await other.leader(of: group) == nil)
            }
            #expect(try await other.campaign(for: group, wait: .never).member == other.member)
        }
    }

    /// DESIGN §1: when leadership is lost, the `withLeadership` body is cancelled, the
    /// leadership is released only after the body finished, and `withLeadership` throws
    /// `leaseLost`. The loss is injected: the backend answers a renewal with "not yours".
    @Test(arguments: TestBackends.urls)
    func withLeadershipBodyIsCancelledOnLossAndThrowsLeaseLost(url: String) async throws {
        try await withCoordinators(
            url, .faulty, .plain, needing: .leaderElection, timings: .lossObserved
        ) { env, leader, other in
            let faults = env.faults(of: leader)
            let group = env.group()
            let timeline = faults.timeline
            await expectToozError(.leaseLost) {
                try await leader.withLeadership(of: group) { lease in
                    faults.refresh = .reportLost
                    do {
                        try await Task.sleep(for: .seconds(30))
                        timeline.mark("body-not-cancelled")
                    } catch {
                        timeline.mark("body-cancelled")
                    }
                    #expect(lease.state == .lost(.revoked))
                    #expect(!timeline.contains("backend-release"), "released before the body finished")
                    // Clean-up work after cancellation still runs under the lost lease.
                    await Task.yield()
                    timeline.mark("body-finished")
                }
            }
            faults.refresh = .none
            #expect(timeline.happened(inOrder: ["body-cancelled", "body-finished", "backend-release"]), "\(timeline.all)")
            #expect(leader.currentLeadership(of: group) == nil)
            let successor = try await other.campaign(for: group, wait: .upTo(.testPatience))
            #expect(successor.member == other.member)
        }
    }
}
