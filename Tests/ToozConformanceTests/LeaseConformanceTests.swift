import Testing
import ToozBackends
import ToozTestKit

/// Lease states and cancel-on-loss (DESIGN §1.1–1.2), on every backend. Losses are injected
/// through ``FaultyBackend``, which sits between the coordinator and the real backend, so the
/// same core behaviour is checked whatever the backend.
@Suite("Leases", .timeLimit(.minutes(5)))
struct LeaseConformanceTests {
    /// A lease is `held` after acquire and `released` after release; the lease of a shut-down
    /// coordinator ends `released` too.
    @Test(arguments: TestBackends.urls)
    func leaseIsHeldThenReleased(url: String) async throws {
        let leftBehind = try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let lock = try coordinator.lock(named: name)
            let lease = try await lock.acquire()
            #expect(lease.state == .held)
            #expect(lease.state.isUsable)
            #expect(try await lock.release())
            #expect(lease.state == .released)
            #expect(!lease.state.isUsable)
            // Held when the coordinator stops: released by the shutdown.
            return try await coordinator.lock(named: name).acquire()
        }
        if let leftBehind {
            #expect(leftBehind.state == .released)
        }
    }

    /// `states` yields the current state, then every change, and finishes after `released`.
    @Test(arguments: TestBackends.urls)
    func statesSequenceYieldsHeldThenReleased(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let lease = try await coordinator.lock(named: name).acquire()
            let states = lease.states
            try await lease.release()
            var seen: [LeaseState] = []
            for await state in states { seen.append(state) }
            #expect(seen == [.held, .released])
            // Subscribing after the end yields the final state and finishes.
            var late: [LeaseState] = []
            for await state in lease.states { late.append(state) }
            #expect(late == [.released])
        }
    }

    /// A running coordinator keeps its lock, leadership and membership well past their TTLs
    /// (renewals and heartbeats work), and nobody else can take them meanwhile.
    @Test(arguments: TestBackends.urls)
    func renewalsKeepLeasesAndMembershipPastTheirTTL(url: String) async throws {
        // 10 s TTLs: renewals every 3.3 s, so only a stall of more than 6 s loses a lease; the
        // test process shares two cores with the CLI tests' child processes and, at worst, a
        // release build.
        let timings = Timings(membershipTTL: 10, lockTTL: 10, leaderTTL: 10)
        try await withCoordinators(url, .plain, .plain, needing: .locks, timings: timings) { env, holder, other in
            let name = env.lockName()
            let group = env.group()
            let features = holder.info.features
            let lock = try await holder.lock(named: name).acquire()
            let leadership = features.contains(.leaderElection) ? try await holder.campaign(for: group) : nil
            if features.contains(.membership) {
                try await holder.joinCreatingGroup(group)
            }
            // Over two TTLs: a lease or membership that is not renewed is gone by then.
            try await Task.sleep(for: .seconds(21))
            #expect(lock.state == .held)
            #expect(try await other.lock(named: name).tryAcquire() == nil)
            if let leadership {
                #expect(leadership.state == .held)
                await expectToozError(.lockBusy) { try await other.campaign(for: group, wait: .never) }
            }
            if features.contains(.membership) {
                #expect(try await other.members(of: group) == [holder.member])
            }
        }
    }

    /// DESIGN §1.1: when the lease behind `withLock` is lost (the backend answers a renewal with
    /// "not yours", as after a break or a takeover), the body is cancelled; the lock is released
    /// on the backend only after the body has finished; `withLock` throws `leaseLost`; and the
    /// lock is free for others afterwards.
    @Test(arguments: TestBackends.urls)
    func withLockBodyIsCancelledWhenTheLeaseIsRevoked(url: String) async throws {
        try await withCoordinators(
            url, .faulty, .plain, needing: .locks, timings: .lossObserved
        ) { env, holder, other in
            let faults = env.faults(of: holder)
            let name = env.lockName()
            let timeline = faults.timeline
            let error = await expectToozError(.leaseLost) {
                try await holder.withLock(named: name) { lease in
                    faults.refresh = .reportLost
                    do {
                        try await Task.sleep(for: .seconds(30))
                        timeline.mark("body-not-cancelled")
                    } catch {
                        timeline.mark("body-cancelled")
                    }
                    #expect(lease.state == .lost(.revoked))
                    #expect(!timeline.contains("backend-release"), "released before the body finished")
                    await Task.yield()
                    #expect(!timeline.contains("backend-release"), "released before the body finished")
                    timeline.mark("body-finished")
                }
            }
            #expect(error?.message.contains("revoked") == true, "\(String(describing: error))")
            faults.refresh = .none
            #expect(timeline.happened(inOrder: ["body-cancelled", "body-finished", "backend-release"]), "\(timeline.all)")
            let lock = try other.lock(named: name)
            #expect(try await lock.acquire(wait: .upTo(.testPatience)).member == other.member)
        }
    }

    /// DESIGN §1.2: a failed renewal makes the lease `uncertain`. On TTL backends it is `lost`
    /// (expired) at the safe deadline, which cancels the `withLock` body and ends in `leaseLost`,
    /// even though the release after the body fails too (an outage, as `MemoryStore.failOperations`
    /// makes one); the lock then frees itself by its TTL. On session backends nothing can expire,
    /// so the lease stays usable, and the body goes on and returns normally once renewals work
    /// again.
    @Test(arguments: TestBackends.urls)
    func failedRenewalsMakeTheLeaseUncertainThenLostOnTTLBackends(url: String) async throws {
        try await withCoordinators(
            url, .faulty, .plain, needing: .locks, timings: .lossObserved
        ) { env, holder, other in
            let faults = env.faults(of: holder)
            let name = env.lockName()
            let timeline = faults.timeline
            if holder.info.leaseKind == .ttl {
                let observed = Box<AsyncStream<LeaseState>>()
                await expectToozError(.leaseLost) {
                    try await holder.withLock(named: name) { lease in
                        observed.value = lease.states
                        faults.refresh = .fail
                        faults.failReleases = true
                        do {
                            try await Task.sleep(for: .seconds(30))
                            timeline.mark("body-not-cancelled")
                        } catch {
                            timeline.mark("body-cancelled")
                        }
                        #expect(!timeline.contains("backend-release"))
                        timeline.mark("body-finished")
                    }
                }
                faults.refresh = .none
                faults.failReleases = false
                // Read outside the cancelled body: the states it went through.
                var seen: [LeaseState] = []
                if let states = observed.value {
                    for await state in states { seen.append(state) }
                }
                #expect(seen == [.held, .uncertain, .lost(.expired)])
                #expect(timeline.happened(inOrder: ["backend-refresh-failed", "body-cancelled", "body-finished", "backend-release"]), "\(timeline.all)")
            } else {
                let value = try await holder.withLock(named: name) { lease in
                    faults.refresh = .fail
                    try await eventually("the lease turns uncertain") { lease.state == .uncertain }
                    faults.refresh = .none
                    try await eventually("the lease is held again") { lease.state == .held }
                    #expect(try await other.lock(named: name).tryAcquire() == nil)
                    return 42
                }
                #expect(value == 42)
            }
            let lock = try other.lock(named: name)
            #expect(try await lock.acquire(wait: .upTo(.testPatience)).member == other.member)
        }
    }
}
