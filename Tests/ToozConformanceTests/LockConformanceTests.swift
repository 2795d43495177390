import Testing
import ToozBackends
import ToozTestKit

/// tooz's `TestAPI` lock cases (reference §1.9, §3.2), plus fencing and the wait-limit
/// behaviour tooz got wrong (§4.2 items 3 and 6), on every backend.
@Suite("Locks", .timeLimit(.minutes(5)))
struct LockConformanceTests {
    /// tooz: test_get_lock: acquire, then release returns true.
    @Test(arguments: TestBackends.urls)
    func acquireThenRelease(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let lock = try coordinator.lock(named: name)
            #expect(lock.name == name)
            let lease = try await lock.acquire()
            #expect(lease.key == .lock(name))
            #expect(lease.member == coordinator.member)
            #expect(lock.lease === lease)
            #expect(try await lock.release() == true)
            #expect(lock.lease == nil)
            // And as a scope (tooz: `with lock:`).
            let value = try await coordinator.withLock(named: name) { lease in
                #expect(lease.state == .held)
                return 42
            }
            #expect(value == 42)
        }
    }

    /// tooz: test_ensure_acquire_release_return: true, then false.
    @Test(arguments: TestBackends.urls)
    func secondReleaseReturnsFalse(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let lock = try coordinator.lock(named: name)
            #expect(try await lock.release() == false, "never acquired")
            let lease = try await lock.acquire()
            #expect(try await lock.release() == true)
            #expect(try await lock.release() == false)
            #expect(try await lease.release() == false)
        }
    }

    /// tooz: test_get_lock_twice_locked_one_released_two: two lock objects on one coordinator
    /// exclude each other; releasing the one that does not hold returns false.
    @Test(arguments: TestBackends.urls)
    func twoLockObjectsOnOneCoordinatorExcludeEachOther(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let first = try coordinator.lock(named: name)
            let second = try coordinator.lock(named: name)
            #expect(try await first.tryAcquire() != nil)
            #expect(try await second.tryAcquire() == nil)
            await expectToozError(.lockBusy) { try await second.acquire(wait: .never) }
            #expect(try await second.release() == false)
            #expect(try await first.release() == true)
            #expect(try await second.tryAcquire() != nil)
            #expect(try await second.release() == true)
        }
    }

    /// tooz: test_get_lock_concurrency_locking_two_lock_process: coordinators exclude each other.
    @Test(arguments: TestBackends.urls)
    func twoCoordinatorsExcludeEachOther(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let name = env.lockName()
            let held = try first.lock(named: name)
            try await held.acquire()
            #expect(try await second.lock(named: name).tryAcquire() == nil)
            // tooz: test_get_lock_serial_locking_two_lock_process.
            #expect(try await held.release())
            let other = try second.lock(named: name)
            #expect(try await other.tryAcquire() != nil)
            #expect(try await first.lock(named: name).tryAcquire() == nil)
            #expect(try await other.release())
        }
    }

    /// tooz: test_get_lock_multiple_coords / test_get_lock_concurrency_locking_same_lock: a
    /// blocking acquire in coordinator 2 waits while coordinator 1 holds, then succeeds.
    @Test(arguments: TestBackends.urls)
    func blockingAcquireSucceedsAfterTheHolderReleases(url: String) async throws {
        try await withCoordinators(url, .plain, .faulty, needing: .locks) { env, first, second in
            let faults = env.faults(of: second)
            let name = env.lockName()
            let held = try first.lock(named: name)
            try await held.acquire()
            let waiter = try second.lock(named: name)
            async let waited = withDeadline("a blocking acquire after release") { try await waiter.acquire(wait: .forever) }
            try await eventually("coordinator 2 found the lock busy") {
                faults.timeline.contains("backend-tryAcquire-busy")
            }
            #expect(waiter.lease == nil, "still waiting while coordinator 1 holds the lock")
            #expect(try await held.release())
            let lease = try await waited
            #expect(lease.member == second.member)
            #expect(try await waiter.release())
        }
    }

    /// A wait limit on a busy lock ends in `lockBusy` (tooz raised LockTimeout or RetryError).
    @Test(arguments: TestBackends.urls)
    func waitLimitOnHeldLockThrowsLockBusy(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let name = env.lockName()
            let held = try first.lock(named: name)
            try await held.acquire()
            let waiter = try second.lock(named: name)
            await expectToozError(.lockBusy) { try await waiter.acquire(wait: .upTo(.milliseconds(200))) }
            await expectToozError(.lockBusy) {
                try await second.withLock(named: name, wait: .milliseconds(200)) { _ -> Void in
                    Issue.record("the body must not run")
                }
            }
            // On the holder's own coordinator too.
            await expectToozError(.lockBusy) { try await first.lock(named: name).acquire(wait: .upTo(.milliseconds(200))) }
            #expect(waiter.lease == nil)
            #expect(try await held.release())
            #expect(try await waiter.acquire(wait: .upTo(.testPatience)).member == second.member)
        }
    }

    /// `.never` on a busy lock throws `lockBusy` at once (tooz: blocking=False returns False).
    @Test(arguments: TestBackends.urls)
    func neverWaitOnHeldLockThrowsLockBusy(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let name = env.lockName()
            try await first.lock(named: name).acquire()
            await expectToozError(.lockBusy) { try await second.lock(named: name).acquire(wait: .never) }
            await expectToozError(.lockBusy) {
                try await second.withLock(named: name, wait: .never) { _ -> Void in Issue.record("the body must not run") }
            }
        }
    }

    /// tooz: test_acquire_twice_no_deadlock_releasing: re-entering a lock inside `withLock`
    /// throws `lockAlreadyHeld` instead of deadlocking.
    @Test(arguments: TestBackends.urls)
    func reentrantAcquireInsideWithLockThrowsLockAlreadyHeld(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            try await withDeadline("re-entrant acquisitions") {
                try await coordinator.withLock(named: name) { _ async throws -> Void in
                    await expectToozError(.lockAlreadyHeld) {
                        try await coordinator.withLock(named: name) { _ -> Void in Issue.record("the inner body must not run") }
                    }
                    await expectToozError(.lockAlreadyHeld) {
                        try await coordinator.lock(named: name).acquire(wait: .forever)
                    }
                    #expect(try await coordinator.lock(named: name).tryAcquire() == nil)
                }
            }
            // Released after the outer scope.
            #expect(try await coordinator.lock(named: name).tryAcquire() != nil)
        }
    }

    /// tooz: test_get_lock_locked_twice / test_get_lock_twice_locked_twice: a lock object that
    /// holds its lock refuses a second acquisition instead of deadlocking.
    @Test(arguments: TestBackends.urls)
    func acquireOnHoldingObjectThrowsLockAlreadyHeld(url: String) async throws {
        try await withCoordinator(url, needing: .locks) { env, coordinator in
            let name = env.lockName()
            let lock = try coordinator.lock(named: name)
            let lease = try await lock.acquire()
            await expectToozError(.lockAlreadyHeld) { try await lock.acquire(wait: .never) }
            try await withDeadline("acquire(.forever) on a holding object") {
                await expectToozError(.lockAlreadyHeld) { try await lock.acquire(wait: .forever) }
            }
            #expect(try await lock.tryAcquire() == nil)
            #expect(lock.lease === lease, "the failed attempts kept the lease")
            #expect(lease.state == .held)
            #expect(try await lock.release())
        }
    }

    /// tooz: test_get_lock_concurrency_locking2 / test_get_multiple_locks_with_same_coord:
    /// taking lock B (from another task) does not release lock A.
    @Test(arguments: TestBackends.urls)
    func holdingAWhileTakingBKeepsA(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let nameA = env.lockName()
            let nameB = env.lockName()
            let lockA = try first.lock(named: nameA)
            let lockB = try first.lock(named: nameB)
            try await lockA.acquire()
            async let takeB = lockB.acquire(wait: .upTo(.testPatience))
            let leaseB = try await takeB
            #expect(leaseB.state == .held)
            #expect(lockA.lease?.state == .held)
            #expect(try await second.lock(named: nameA).tryAcquire() == nil, "A is still held")
            #expect(try await second.lock(named: nameB).tryAcquire() == nil, "B is held")
            #expect(try await lockB.release())
            #expect(try await second.lock(named: nameA).tryAcquire() == nil, "releasing B did not release A")
            #expect(try await lockA.release())
            #expect(try await second.lock(named: nameA).tryAcquire() != nil)
        }
    }

    /// tooz: test_get_lock_release_broken. A holds; B breaks the lock and takes it; A's lease is
    /// lost at its next renewal and its release returns false; a third member cannot acquire.
    @Test(arguments: TestBackends.urls)
    func brokenLockPassesToTheBreakerAndTheHolderLosesIt(url: String) async throws {
        try await withCoordinators(
            url, .plain, .plain, .plain, needing: .locks, timings: .lossObserved
        ) { env, holder, breaker, third in
            let name = env.lockName()
            let held = try holder.lock(named: name)
            let lease = try await held.acquire()
            let breakerLock = try breaker.lock(named: name)
            guard await env.supports(.breakLock, on: breaker) else { return }
            #expect(try await breakerLock.tryAcquire() == nil)
            #expect(try await breakerLock.breakLock() == true)
            #expect(try await breakerLock.tryAcquire() != nil)
            try await eventually("the holder's lease is lost after its next renewal") {
                lease.state == .lost(.revoked)
            }
            #expect(try await held.release() == false)
            let thirdLock = try third.lock(named: name)
            #expect(try await thirdLock.tryAcquire() == nil)
            #expect(try await breakerLock.release() == true)
            #expect(try await breakerLock.breakLock() == false, "nothing left to break")
            #expect(try await thirdLock.tryAcquire() != nil)
            #expect(try await thirdLock.release())
        }
    }

    /// Fencing tokens grow strictly over acquisitions of one lock across coordinators, and carry
    /// the backend's declared strength.
    @Test(arguments: TestBackends.urls)
    func fencingTokensStrictlyIncrease(url: String) async throws {
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let name = env.lockName()
            var tokens: [FencingToken] = []
            for round in 0..<6 {
                let coordinator = round.isMultiple(of: 2) ? first : second
                if round < 4 {
                    let lock = try coordinator.lock(named: name)
                    tokens.append(try await lock.acquire(wait: .upTo(.testPatience)).fencingToken)
                    #expect(try await lock.release())
                } else {
                    tokens.append(try await coordinator.withLock(named: name, wait: .upTo(.testPatience)) { $0.fencingToken })
                }
            }
            #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0.value < $1.value }, "tokens \(tokens)")
            #expect(tokens.allSatisfy { $0.strength == first.info.fencing })
        }
    }

    /// `withLock` releases after its body, also when the body throws, and passes the error on.
    @Test(arguments: TestBackends.urls)
    func withLockReleasesAfterTheBodyEvenWhenItThrows(url: String) async throws {
        struct BodyFailed: Error {}
        try await withCoordinators(url, .plain, .plain, needing: .locks) { env, first, second in
            let name = env.lockName()
            let lease = try await first.withLock(named: name) { lease in
                let busy = try await second.lock(named: name).tryAcquire()
                #expect(busy == nil)
                return lease
            }
            #expect(lease.state == .released)
            do {
                try await first.withLock(named: name) { _ in throw BodyFailed() }
                Issue.record("withLock must pass the body's error on")
            } catch is BodyFailed {}
            let other = try second.lock(named: name)
            #expect(try await other.tryAcquire() != nil)
            #expect(try await other.release())
        }
    }
}
