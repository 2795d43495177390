import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import ToozTestKit

@testable import Tooz

/// Lease, renewal and shutdown behaviour of the core on `memory://` with a ``ManualClock``:
/// nothing here waits for real time to pass except for tasks to get scheduled.
@Suite struct CoordinatorClockTests {
    struct Fixture {
        let clock = ManualClock()
        let store: MemoryStore
        var configuration = CoordinatorConfiguration()

        init() {
            store = MemoryStore(clock: clock)
            configuration.lockTTL = .seconds(30)
            configuration.leaderTTL = .seconds(30)
            configuration.membershipTTL = .seconds(30)
        }

        func coordinator(_ member: MemberID) throws -> Coordinator {
            try Coordinator(
                backend: MemoryBackend(store: store, membershipTTL: configuration.membershipTTL),
                member: member, configuration: configuration, clock: clock
            )
        }
    }

    @Test func failedRenewalsTurnALeaseUncertainThenLost() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        try await coordinator.withRunning {
            let lease = try await coordinator.lock(named: "x").acquire()
            #expect(lease.state == .held)
            #expect(lease.fencingToken.value == 1)
            try await eventually { fixture.clock.sleeperCount >= 2 }  // renewal and heartbeat loops asleep
            fixture.store.failOperations = true
            fixture.clock.advance(by: .seconds(10))
            try await eventually { lease.state == .uncertain }
            // The safe deadline is 30 s minus a 2 s margin after the acquire was sent.
            fixture.clock.advance(by: .seconds(17))
            try await Task.sleep(for: .milliseconds(20))
            #expect(lease.state == .uncertain)
            fixture.clock.advance(by: .seconds(1))
            try await eventually { lease.state == .lost(.expired) }
            fixture.store.failOperations = false
            // The store would keep the lock for 2 s more (its TTL); a given-up lease is handed
            // back as soon as the store answers, so that the next holder need not wait.
            #expect(fixture.store.state.withLock { !$0.locks.isEmpty })
            try await eventually { fixture.clock.sleeperCount >= 2 }  // the renewal loop asleep again
            fixture.clock.advance(by: .seconds(1))
            try await eventually { fixture.store.state.withLock { $0.locks.isEmpty } }
            // A lost lease is never silently re-acquired.
            fixture.clock.advance(by: .seconds(10))
            try await Task.sleep(for: .milliseconds(20))
            #expect(lease.state == .lost(.expired))
        }
    }

    @Test func successfulRenewalsKeepTheLeaseHeldPastItsTTL() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        try await coordinator.withRunning {
            let lease = try await coordinator.lock(named: "x").acquire()
            for _ in 0..<9 {
                try await eventually { fixture.clock.sleeperCount >= 2 }
                fixture.clock.advance(by: .seconds(10))
                try await Task.sleep(for: .milliseconds(5))
            }
            try await eventually { fixture.clock.sleeperCount >= 2 }
            #expect(lease.state == .held)
            #expect(try await coordinator.lock(named: "x").holder() == "a")
        }
    }

    @Test func withLockCancelsTheBodyOnLossAndReleasesAfterIt() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        let order = EventLog<String>()
        try await coordinator.withRunning {
            async let outcome: ToozError.Code? = {
                do {
                    try await coordinator.withLock(named: "x") { _ in
                        order.append("body started")
                        do {
                            try await Task.sleep(for: .seconds(3600))
                        } catch {
                            // The lease must still be registered: release comes after the body.
                            let registered = coordinator.state.withLock { $0.leases.count }
                            order.append("body cancelled, registered leases=\(registered)")
                            throw error
                        }
                    }
                    return nil
                } catch {
                    return (error as? ToozError)?.code
                }
            }()
            try await eventually { order.events.count == 1 }
            try await eventually { fixture.clock.sleeperCount >= 2 }
            fixture.store.failOperations = true
            fixture.clock.advance(by: .seconds(10))
            try await eventually { coordinator.state.withLock { $0.leases.values.first?.state } == .uncertain }
            #expect(order.events.count == 1)  // uncertain does not cancel the body
            try await eventually { fixture.clock.sleeperCount >= 2 }
            fixture.clock.advance(by: .seconds(18))
            let code = await outcome
            #expect(code == .leaseLost)
            fixture.store.failOperations = false
            #expect(coordinator.state.withLock { $0.leases.isEmpty })
        }
        #expect(order.events == ["body started", "body cancelled, registered leases=1"])
    }

    @Test func revokedLeaseCancelsTheBody() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        try await coordinator.withRunning {
            async let outcome: ToozError.Code? = {
                do {
                    try await coordinator.withLock(named: "x") { _ in try await Task.sleep(for: .seconds(3600)) }
                    return nil
                } catch {
                    return (error as? ToozError)?.code
                }
            }()
            try await eventually { fixture.store.state.withLock { $0.locks[.lock("x")] != nil } }
            fixture.store.expireLocks(of: "a")
            try await eventually { fixture.clock.sleeperCount >= 2 }
            fixture.clock.advance(by: .seconds(10))
            let code = await outcome
            #expect(code == .leaseLost)
        }
    }

    @Test func aCrashedLeaderIsReplacedWithinTheTTL() async throws {
        let fixture = {
            var fixture = Fixture()
            fixture.configuration.leaderTTL = .seconds(9)
            return fixture
        }()
        let leader = try fixture.coordinator("leader")
        let follower = try fixture.coordinator("follower")
        try await follower.withRunning {
            try await leader.withRunning {
                try await leader.campaign(for: "g")
                #expect(try await follower.leader(of: "g") == "leader")
                // The leader's process "hangs": nothing renews it any more.
                fixture.store.failOperations = true
            }
            fixture.store.failOperations = false
            let startedAt = fixture.clock.now()
            let elected = try await withThrowingTaskGroup(of: Lease?.self) { group in
                group.addTask { try await follower.campaign(for: "g") }
                group.addTask {
                    // Drive the clock in 100 ms steps until the campaign wins (at most 60 s of clock
                    // time), each step once the follower's heartbeat, renewal and campaign loops are
                    // all asleep on the clock, so that no step passes unseen however slow the machine.
                    for _ in 0..<600 {
                        try await eventually("the follower's loops asleep") { fixture.clock.sleeperCount >= 3 }
                        fixture.clock.advance(by: .milliseconds(100))
                    }
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            let lease = try #require(elected)
            #expect(lease.member == "follower")
            // The TTL (9 s) plus one lock poll (100 ms), give or take two clock steps.
            #expect(fixture.clock.now() - startedAt <= .milliseconds(9_300))
            #expect(try await follower.leader(of: "g") == "follower")
        }
    }

    @Test func gracefulShutdownReleasesLocksAndLeavesGroups() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        let observer = try fixture.coordinator("b")
        try await observer.withRunning {
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await coordinator.run() }
                    try await coordinator.createGroup("g")
                    try await coordinator.join("g")
                    let lease = try await coordinator.lock(named: "x").acquire()
                    #expect(try await observer.members(of: "g") == ["a"])
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                    #expect(lease.state == .released)
                }
            }
            #expect(try await observer.members(of: "g").isEmpty)
            #expect(try await observer.lock(named: "x").holder() == nil)
        }
    }

    @Test func cancellingRunIsAGracefulShutdown() async throws {
        let fixture = Fixture()
        let coordinator = try fixture.coordinator("a")
        let observer = try fixture.coordinator("b")
        try await observer.withRunning {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await coordinator.run() }
                try await coordinator.createGroup("g")
                try await coordinator.join("g")
                let lock = try await coordinator.lock(named: "x").acquire()
                let leadership = try await coordinator.campaign(for: "g")
                group.cancelAll()
                try await group.waitForAll()
                #expect(lock.state == .released)
                #expect(leadership.state == .released)
            }
            #expect(try await observer.members(of: "g").isEmpty)
            #expect(try await observer.lock(named: "x").holder() == nil)
            #expect(try await observer.leader(of: "g") == nil)
            #expect(!coordinator.isRunning)
        }
    }

    @Test func operationsFailClearlyWhenRunIsNotRunning() async throws {
        var fixture = Fixture()
        fixture.configuration.operationTimeout = .milliseconds(50)
        let coordinator = try fixture.coordinator("a")
        await #expect {
            try await coordinator.createGroup("g")
        } throws: { error in
            (error as? ToozError)?.code == .notRunning
        }
    }

    @Test func pushedEventsArriveWithoutPolling() async throws {
        let fixture = Fixture()
        let watcher = try fixture.coordinator("w")
        let joiner = try fixture.coordinator("j")
        try await watcher.withRunning {
            try await joiner.withRunning {
                try await watcher.createGroup("g")
                var events = try watcher.events(in: "g").makeAsyncIterator()
                #expect(try await events.next() == .snapshot(GroupSnapshot(group: "g", members: [:], leader: nil)))
                try await joiner.join("g", capabilities: ["weight": 2])
                // The clock never moves: only the store's push can deliver this.
                #expect(try await events.next() == .joined("j", capabilities: ["weight": 2]))
                try await joiner.leave("g")
                #expect(try await events.next() == .left("j"))
            }
        }
    }
}
