import MetricsTestKit
import Testing
import ToozTestKit

@testable import Tooz

/// The coordinator's swift-metrics instruments, recorded into a `TestMetrics` factory.
@Suite struct CoordinatorMetricsTests {
    @Test func locksLeadershipAndLossesAreCounted() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let store = MemoryStore(clock: clock)
        let coordinator = try Coordinator(
            backend: MemoryBackend(store: store), member: "a", clock: clock, metricsFactory: metrics
        )
        let other = try Coordinator(backend: MemoryBackend(store: store), member: "b", clock: clock)
        try await other.withRunning {
            try await coordinator.withRunning {
                let lease = try await coordinator.lock(named: "x").acquire()
                try await lease.release()
                _ = try await other.lock(named: "y").acquire()
                await #expect(throws: ToozError.self) { try await coordinator.lock(named: "y").acquire(wait: .never) }
                try await coordinator.campaign(for: "g")
                try await coordinator.standDown(from: "g")
                let doomed = try await coordinator.lock(named: "z").acquire()
                store.expireLocks(of: "a")
                // Both coordinators' renewal and heartbeat loops asleep: a loop still running
                // could read the time before the advance and then sleep past it for good.
                try await eventually { clock.sleeperCount >= 4 }
                clock.advance(by: .seconds(10))  // the renewal finds the lock gone
                try await eventually { !doomed.state.isUsable }
            }
        }
        let backend = ("backend", "memory")
        #expect(try metrics.expectTimer("tooz_lock_wait_seconds", [backend]).values.count == 3)
        #expect(try metrics.expectTimer("tooz_lock_hold_seconds", [backend]).values.count == 3)
        #expect(try metrics.expectCounter("tooz_lock_busy_total", [backend]).totalValue == 1)
        #expect(try metrics.expectCounter("tooz_leases_lost_total", [backend, ("reason", "revoked")]).totalValue == 1)
        #expect(try metrics.expectCounter("tooz_lease_renewals_total", [backend, ("result", "ok")]).totalValue == 0)
        // Gaining and losing the leadership of "g" are two changes.
        #expect(try metrics.expectCounter("tooz_leadership_changes_total", [backend]).totalValue == 2)
    }
}
