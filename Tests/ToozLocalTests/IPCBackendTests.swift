import Dispatch
import Synchronization
import Testing
import ToozBackends
import ToozTestKit

@testable import ToozLocal

/// Live tests on the host's System V IPC. Lock and group names are unique per test, and every
/// lock's semaphore is removed afterwards; the shared group-list segment is left in place with
/// the test groups removed.
@Suite(.timeLimit(.minutes(5)))
struct IPCBackendTests {
    // MARK: Helpers

    func makeBackend() -> IPCBackend {
        IPCBackend(internalLockTimeout: .seconds(10))
    }

    /// A coordinator on `ipc://` with session-lease checks every 100 ms, so a broken lock is
    /// noticed quickly.
    func coordinator(_ member: MemberID) throws -> Coordinator {
        let (_, configuration) = try IPCBackend.make(BackendURL("ipc://?lock_timeout=0.3"))
        return try Coordinator(backend: makeBackend(), member: member, configuration: configuration)
    }

    func withTwoCoordinators(_ body: @Sendable (Coordinator, Coordinator) async throws -> Void) async throws {
        let first = try coordinator("ipc-test-a")
        let second = try coordinator("ipc-test-b")
        try await first.withRunning {
            try await second.withRunning { try await body(first, second) }
        }
    }

    static func uniqueLockName() -> LockName { LockName("swift-ipc-test-" + LockOwner.uniqueToken()) }
    static func uniqueGroup() -> GroupID { GroupID("t-" + LockOwner.uniqueToken().prefix(6) + LockOwner.uniqueToken().suffix(6)) }

    /// Runs `body`, then breaks the lock whatever happened, so no semaphore is left behind.
    func withLockName(_ body: (LockName) async throws -> Void) async throws {
        let name = Self.uniqueLockName()
        do {
            try await body(name)
        } catch {
            _ = try? IPCLock.breakLock(.lock(name.rawValue))
            throw error
        }
        _ = try? IPCLock.breakLock(.lock(name.rawValue))
    }

    // MARK: Configuration

    @Test func urlAndOptions() throws {
        let (backend, configuration) = try IPCBackend.make(BackendURL("ipc://"))
        #expect(backend is IPCBackend)
        #expect(configuration.lockPollInterval == IPCBackend.defaultMaximumWait)
        #expect(try IPCBackend.make(BackendURL("ipc://?executor=threaded&timeout=3")).1.operationTimeout == .seconds(3))
        #expect(try IPCBackend.make(BackendURL("ipc://?lock_poll_interval=0.02")).1.lockPollInterval == .milliseconds(20))
        #expect(try IPCBackend.make(BackendURL("ipc:///")).0 is IPCBackend)
        for bad in ["ipc://?bogus=1", "ipc://localhost", "ipc:///tmp/x", "ipc://:12", "ipc://?timeout=abc"] {
            let error = #expect(throws: ToozError.self, "\(bad)") { try IPCBackend.make(BackendURL(bad)) }
            #expect(error?.code == .invalidConfiguration, "\(bad)")
        }
        #expect(try BackendFactory.makeBackend(url: "ipc://").0 is IPCBackend)
    }

    @Test func infoDeclaresToozFeatures() {
        let info = makeBackend().info
        #expect(info.name == "ipc")
        #expect(info.features == [.groups, .locks, .breakLock])
        #expect(info.fencing == .hostLocal)
        #expect(info.eventDelivery == .polled)
        #expect(info.leaseKind == .session)
        #expect(info.characteristics == [.distributedAcrossThreads, .distributedAcrossProcesses, .nonTimeoutBased])
    }

    // MARK: Semaphore protocol

    @Test func semaphoreLockProtocol() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let semaphore = try #require(try IPCLock.tryAcquire(key))
            #expect(try semaphore.value() == 0)
            #expect(try SysVSemaphore.open(key: key) == semaphore)
            #expect(try IPCLock.isHeld(semaphore, key: key))
            // Not re-entrant, even inside one process: SEM_UNDO does not make it recursive.
            #expect(try IPCLock.tryAcquire(key) == nil)
            #expect(try IPCLock.release(semaphore))
            #expect(try SysVSemaphore.open(key: key) == nil)
            #expect(try !IPCLock.release(semaphore))
            #expect(try !IPCLock.isHeld(semaphore, key: key))
            #expect(try !IPCLock.breakLock(key))
        }
    }

    /// A tooz holder leaves the semaphore at 0; ours must then report busy, and win once the
    /// holder removes it (tooz's release).
    @Test func foreignHolderMakesTryFail() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let foreign = try #require(try SysVSemaphore.create(key: key))
            #expect(try foreign.setValue(0))
            let backend = makeBackend()
            #expect(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: "m"), ttl: .seconds(1)) == nil)
            #expect(try foreign.remove())
            let grant = try #require(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: "m"), ttl: .seconds(1)))
            #expect(try await backend.refresh(.lock(name), grant: grant, ttl: .seconds(1)))
            #expect(try await backend.release(.lock(name), grant: grant))
            #expect(try await !backend.release(.lock(name), grant: grant))
        }
    }

    /// A semaphore someone removed and re-created is not ours any more.
    @Test func replacedSemaphoreIsNotHeld() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let backend = makeBackend()
            let grant = try #require(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: "m"), ttl: .seconds(1)))
            #expect(try IPCLock.breakLock(key))
            let successor = try #require(try IPCLock.tryAcquire(key))
            #expect(try await !backend.refresh(.lock(name), grant: grant, ttl: .seconds(1)))
            #expect(try await !backend.release(.lock(name), grant: grant))
            // Our release did not remove the successor's semaphore.
            #expect(try IPCLock.isHeld(successor, key: key))
            #expect(try IPCLock.release(successor))
        }
    }

    @Test func concurrentTriesHaveOneWinner() async throws {
        try await withLockName { name in
            let backends = [makeBackend(), makeBackend()]
            let grants = try await withThrowingTaskGroup(of: LockGrant?.self) { group in
                for index in 0..<16 {
                    let backend = backends[index % 2]
                    group.addTask { try await backend.tryAcquire(.lock(name), owner: LockOwner(member: MemberID("m\(index)")), ttl: .seconds(1)) }
                }
                return try await group.reduce(into: [LockGrant]()) { if let grant = $1 { $0.append(grant) } }
            }
            #expect(grants.count == 1)
            for grant in grants {
                for backend in backends {
                    _ = try await backend.release(.lock(name), grant: grant)
                }
            }
            #expect(try SysVSemaphore.open(key: .lock(name.rawValue)) == nil)
        }
    }

    // MARK: Locks through the coordinator

    @Test func coordinatorsExcludeEachOther() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                let lease = try await first.lock(named: name).acquire(wait: .never)
                #expect(try await second.lock(named: name).tryAcquire() == nil)
                // Two lock objects on one coordinator exclude each other too.
                #expect(try await first.lock(named: name).tryAcquire() == nil)
                let busy = await #expect(throws: ToozError.self) {
                    try await second.lock(named: name).acquire(wait: .milliseconds(30))
                }
                #expect(busy?.code == .lockBusy)
                #expect(try await lease.release())
                #expect(try await !lease.release())

                let next = try #require(try await second.lock(named: name).tryAcquire())
                #expect(next.fencingToken > lease.fencingToken)
                #expect(try await first.lock(named: name).tryAcquire() == nil)
                #expect(try await next.release())
            }
            #expect(try SysVSemaphore.open(key: .lock(name.rawValue)) == nil)
        }
    }

    @Test func waiterGetsTheLockAfterRelease() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                let held = try await first.lock(named: name).acquire(wait: .never)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let lease = try await second.lock(named: name).acquire(wait: .upTo(.testPatience))
                        #expect(lease.fencingToken > held.fencingToken)
                        #expect(try await lease.release())
                    }
                    #expect(try await held.release())
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test func fencingTokensStrictlyIncrease() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                var tokens: [FencingToken] = []
                for round in 0..<6 {
                    let coordinator = round.isMultiple(of: 2) ? first : second
                    let before = IPCFencingClock.now()
                    tokens.append(try await coordinator.withLock(named: name, wait: .upTo(.testPatience)) { $0.fencingToken })
                    // The token is a reading of the host's boot-time clock taken while held.
                    #expect(tokens.last!.value > before)
                    #expect(tokens.last!.value <= IPCFencingClock.now())
                }
                #expect(tokens.allSatisfy { $0.strength == .hostLocal })
                #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0.value < $1.value })
            }
        }
    }

    /// Release and re-acquire back to back, alternating between two backends (two coordinators'
    /// worth of state) and going through the blocking wait: no token repeats or goes back.
    @Test func fencingTokensStrictlyIncreaseInATightLoop() async throws {
        try await withLockName { name in
            let backends = [makeBackend(), makeBackend()]
            var previous: UInt64 = 0
            var increasing = true
            for round in 0..<2000 {
                let backend = backends[round % 2]
                let grant = try #require(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: "m"), ttl: .seconds(1)))
                increasing = increasing && grant.fencingToken.value > previous
                previous = grant.fencingToken.value
                #expect(try await backend.release(.lock(name), grant: grant))
            }
            #expect(increasing)
            #expect(try SysVSemaphore.open(key: .lock(name.rawValue)) == nil)
        }
    }

    /// Waiters contend in tasks that all acquire through the coordinators' wait path; every
    /// holder's token is above the one before, in the order the lock passed along.
    @Test func fencingTokensFollowTheHandOffOrder() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                let log = Shared<[UInt64]>([])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<8 {
                        let coordinator = index.isMultiple(of: 2) ? first : second
                        group.addTask {
                            for _ in 0..<10 {
                                try await coordinator.withLock(named: name, wait: .upTo(.testPatience)) { lease in
                                    log.value.withLock { $0.append(lease.fencingToken.value) }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let tokens = log.value.withLock { $0 }
                #expect(tokens.count == 80)
                #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 })
            }
        }
    }

    @Test func timeNamespaceOffsetIsParsed() {
        let host = "monotonic           0         0\nboottime            0         0\n"
        #expect(IPCFencingClock.boottimeOffset(inTimeNamespaceOffsets: host) == 0)
        let shifted = "monotonic 100 0\nboottime 86400 250\n"
        #expect(IPCFencingClock.boottimeOffset(inTimeNamespaceOffsets: shifted) == 86_400_000_000_250)
        #expect(IPCFencingClock.boottimeOffset(inTimeNamespaceOffsets: "7 -5 0\n") == -5_000_000_000)
        #expect(IPCFencingClock.boottimeOffset(inTimeNamespaceOffsets: "monotonic 1 0\n") == nil)
        #expect(IPCFencingClock.boottimeOffset(inTimeNamespaceOffsets: "boottime x 0\n") == nil)
    }

    // MARK: Waiting for a release

    /// The kernel wait ends with the reason it ended, whatever the timeout.
    @Test func kernelWaitOutcomes() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            // Held and nobody releases: the timeout.
            let held = try #require(try IPCLock.tryAcquire(key))
            #expect(try IPCLock.waitForRelease(held, timeout: .milliseconds(1)) == .timedOut)
            #expect(try IPCLock.isHeld(held, key: key))
            // Released while waiting (the wait runs on a Dispatch thread, the release here, as
            // another process would): the wait ends although its timeout is far away.
            let outcome = try await withThrowingTaskGroup(of: IPCLock.WaitOutcome?.self) { group in
                group.addTask {
                    await BlockingOffload.run { try? IPCLock.waitForRelease(held, timeout: .seconds(3600)) } ?? nil
                }
                try await Self.waitUntilSomeoneSleeps(on: held)
                #expect(try IPCLock.release(held))
                return try await group.next()!
            }
            #expect(outcome == .removed)
            // A removed semaphore is not waited on.
            #expect(try IPCLock.waitForRelease(held, timeout: .seconds(3600)) == .removed)
        }
    }

    /// A holder that dies gets its unit back from `SEM_UNDO` (simulated here by a holder that
    /// took the semaphore without undo and adds the unit back): the wait takes the unit, hands
    /// it back, and reports it, leaving the lock free for the caller's next try.
    @Test func kernelWaitReportsAUnitThatCameBack() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let foreign = try #require(try SysVSemaphore.create(key: key))  // value 0: held
            let outcome = try await withThrowingTaskGroup(of: IPCLock.WaitOutcome?.self) { group in
                group.addTask {
                    await BlockingOffload.run { try? IPCLock.waitForRelease(foreign, timeout: .seconds(3600)) } ?? nil
                }
                try await Self.waitUntilSomeoneSleeps(on: foreign)
                #expect(try foreign.giveBack())
                return try await group.next()!
            }
            #expect(outcome == .unitReturned)
            #expect(try foreign.value() == 1)
            let backend = makeBackend()
            let grant = try #require(try await backend.tryAcquire(.lock(name), owner: LockOwner(member: "m"), ttl: .seconds(1)))
            #expect(try await backend.release(.lock(name), grant: grant))
        }
    }

    /// Through the coordinator: a waiter for a lock held elsewhere (a foreign semaphore, as a
    /// Python holder's) sleeps in the kernel, and acquires once that holder's unit comes back;
    /// its lease is real.
    @Test func waiterGetsTheLockWhenAHolderDies() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let foreign = try #require(try SysVSemaphore.create(key: key))
            let coordinator = try coordinator("ipc-test-a")
            try await coordinator.withRunning {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let lease = try await coordinator.lock(named: name).acquire(wait: .upTo(.testPatience))
                        #expect(try await coordinator.lock(named: name).tryAcquire() == nil)
                        #expect(try await lease.release())
                    }
                    try await Self.waitUntilSomeoneSleeps(on: foreign)
                    #expect(try foreign.giveBack())
                    try await group.waitForAll()
                }
            }
            #expect(try SysVSemaphore.open(key: key) == nil)
        }
    }

    /// Through the coordinator: a waiter for a lock held elsewhere acquires once it is released
    /// there (removed without telling this process, as Python's release does).
    @Test func waiterGetsTheLockWhenAnotherProcessReleases() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let foreign = try #require(try SysVSemaphore.create(key: key))
            let coordinator = try coordinator("ipc-test-a")
            try await coordinator.withRunning {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let lease = try await coordinator.lock(named: name).acquire(wait: .upTo(.testPatience))
                        #expect(try await lease.release())
                    }
                    try await Self.waitUntilSomeoneSleeps(on: foreign)
                    #expect(try foreign.remove())
                    try await group.waitForAll()
                }
            }
            #expect(try SysVSemaphore.open(key: key) == nil)
        }
    }

    /// A cancelled wait returns without waiting for the blocked thread, and resumes its
    /// continuation once (the thread's later result is dropped).
    @Test func cancelledOffloadReturnsBeforeTheBlockedCallEnds() async throws {
        let gate = DispatchSemaphore(value: 0)
        let started = Shared(false)
        let result = await withTaskGroup(of: Int?.self) { group in
            group.addTask {
                await BlockingOffload.run { () -> Int in
                    started.value.withLock { $0 = true }
                    gate.wait()
                    return 1
                }
            }
            while !started.value.withLock({ $0 }) { await Task.yield() }
            group.cancelAll()
            // Returns while the call is still blocked on the gate.
            return await group.next()!
        }
        gate.signal()
        #expect(result == nil)
        // Not cancelled: the result comes through.
        #expect(await BlockingOffload.run { 7 } == 7)
    }

    /// A gate waited on without a thread: the timer's value when nothing comes first, `nil` at
    /// once when cancelled, the opener's value when opened.
    @Test func gateWaitWithoutAThread() async {
        #expect(await OneShot<Int>().wait(upTo: .milliseconds(1), orElse: 5) == 5)
        let cancelled = await withTaskGroup(of: Int?.self) { group in
            group.addTask { await OneShot<Int>().wait(upTo: .seconds(3600), orElse: 5) }
            group.cancelAll()
            return await group.next()!
        }
        #expect(cancelled == nil)
        let gate = OneShot<Int>()
        gate.resume(with: 9)  // opened before anyone waits: the wait returns at once
        #expect(await gate.wait(upTo: .seconds(3600), orElse: 5) == 9)
    }

    /// A release or break in this process opens the gates of this process's waiters, even when
    /// their kernel wait is still blocked.
    @Test func inProcessReleaseOpensTheGate() async throws {
        let key = IPCKey.lock(Self.uniqueLockName().rawValue)
        let blocked = DispatchSemaphore(value: 0)
        let started = Shared(false)
        let gate = IPCProcessLocks.Gate()
        IPCProcessLocks.shared.add(gate, for: key)
        let outcome = await withTaskGroup(of: Result<IPCLock.WaitOutcome, ToozError>?.self) { group in
            group.addTask {
                await BlockingOffload.run(ending: gate) {
                    started.value.withLock { $0 = true }
                    blocked.wait()
                    return .success(.timedOut)
                }
            }
            while !started.value.withLock({ $0 }) { await Task.yield() }
            #expect(IPCProcessLocks.shared.waiterCount(for: key) == 1)
            IPCProcessLocks.shared.broke(key)
            return await group.next()!
        }
        blocked.signal()
        #expect(try outcome?.get() == .removed)
        #expect(IPCProcessLocks.shared.waiterCount(for: key) == 0)
        // Nobody waits any more: opening again does nothing.
        IPCProcessLocks.shared.broke(key)
    }

    /// A waiter for a lock this process holds waits for this process's release with no thread
    /// asleep in the kernel, and that release wakes it (its wait is not capped here, so nothing
    /// else could).
    @Test func waitForALockHeldHereNeedsNoThread() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let holder = makeBackend()
            let waiter = IPCBackend(internalLockTimeout: .seconds(10), groupListKey: .groupList, maximumWait: .seconds(3600))
            let grant = try #require(try await holder.tryAcquire(.lock(name), owner: LockOwner(member: "a"), ttl: .seconds(1)))
            let semaphore = try #require(try SysVSemaphore.open(key: key))
            #expect(IPCProcessLocks.shared.holds(semaphore, key: key))

            // A bounded wait: nobody sleeps on the semaphore while it lasts.
            let done = Shared(false)
            let sleepers = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await makeBackend().waitForRelease(of: .lock(name), timeout: .milliseconds(20))
                    done.value.withLock { $0 = true }
                }
                var most: Int32 = 0
                while !done.value.withLock({ $0 }) {
                    most = max(most, try semaphore.waitingCount() ?? 0)
                    await Task.yield()
                }
                try await group.waitForAll()
                return most
            }
            #expect(sleepers == 0)

            // An unbounded wait: the release here ends it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await waiter.waitForRelease(of: .lock(name), timeout: .seconds(3600)) }
                while IPCProcessLocks.shared.waiterCount(for: key) == 0 { await Task.yield() }
                #expect(try await holder.release(.lock(name), grant: grant))
                try await group.waitForAll()
            }
            #expect(IPCProcessLocks.shared.waiterCount(for: key) == 0)
            #expect(!IPCProcessLocks.shared.holds(semaphore, key: key))
            let next = try #require(try await waiter.tryAcquire(.lock(name), owner: LockOwner(member: "b"), ttl: .seconds(1)))
            #expect(next.fencingToken > grant.fencingToken)
            #expect(try await waiter.release(.lock(name), grant: next))
        }
    }

    /// A waiter for a lock held elsewhere sleeps in the kernel, and a release there (removed
    /// without telling this process, as Python's release does) wakes it (its wait is not capped
    /// here, so nothing else could).
    @Test func waitForALockHeldElsewhereSleepsInTheKernel() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let foreign = try #require(try SysVSemaphore.create(key: key))
            let waiter = IPCBackend(internalLockTimeout: .seconds(10), groupListKey: .groupList, maximumWait: .seconds(3600))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await waiter.waitForRelease(of: .lock(name), timeout: .seconds(3600)) }
                try await Self.waitUntilSomeoneSleeps(on: foreign)
                #expect(try foreign.remove())
                try await group.waitForAll()
            }
            #expect(IPCProcessLocks.shared.waiterCount(for: key) == 0)
        }
    }

    /// Another process breaks a lock this process holds (unseen here): a waiter still gets it
    /// (after its timeout), and the old holder's late release touches nothing of the new one's.
    @Test func breakFromElsewhereOfALockHeldHere() async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            let holder = makeBackend()
            let waiter = makeBackend()
            let old = try #require(try await holder.tryAcquire(.lock(name), owner: LockOwner(member: "a"), ttl: .seconds(1)))
            #expect(try IPCLock.breakLock(key))  // as another process would: no one here is told
            try await waiter.waitForRelease(of: .lock(name), timeout: .milliseconds(5))
            let new = try #require(try await waiter.tryAcquire(.lock(name), owner: LockOwner(member: "b"), ttl: .seconds(1)))
            let semaphore = try #require(try SysVSemaphore.open(key: key))
            #expect(IPCProcessLocks.shared.holds(semaphore, key: key))
            #expect(try await !holder.release(.lock(name), grant: old))
            #expect(IPCProcessLocks.shared.holds(semaphore, key: key))
            #expect(try await waiter.refresh(.lock(name), grant: new, ttl: .seconds(1)))
            #expect(try await waiter.release(.lock(name), grant: new))
        }
    }

    /// A waiting acquisition is cancelled promptly, and leaves no semaphore of its own.
    @Test(arguments: [false, true])
    func cancelledAcquisitionStopsWaiting(heldElsewhere: Bool) async throws {
        try await withLockName { name in
            let key = IPCKey.lock(name.rawValue)
            try await withTwoCoordinators { first, second in
                // Held here (a wait with no thread) or by a foreign semaphore (a kernel wait).
                let lease = heldElsewhere ? nil : try await first.lock(named: name).acquire(wait: .never)
                let foreign = heldElsewhere ? try SysVSemaphore.create(key: key) : nil
                let outcome = await withTaskGroup(of: (any Error)?.self) { group in
                    group.addTask {
                        do {
                            _ = try await second.lock(named: name).acquire(wait: .forever)
                            return nil
                        } catch {
                            return error
                        }
                    }
                    while IPCProcessLocks.shared.waiterCount(for: key) == 0 { await Task.yield() }
                    group.cancelAll()
                    return await group.next()!
                }
                #expect(outcome is CancellationError)
                if let lease { #expect(try await lease.release()) }
                if let foreign { #expect(try foreign.remove()) }
                #expect(try SysVSemaphore.open(key: key) == nil)
            }
        }
    }

    /// Polls `GETNCNT` (how many threads sleep to decrement `semaphore`) until one does.
    static func waitUntilSomeoneSleeps(on semaphore: SysVSemaphore) async throws {
        while try semaphore.waitingCount() == 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test func breakLockMakesTheHolderLoseItsLease() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                let lease = try await first.lock(named: name).acquire(wait: .never)
                #expect(try await first.backend.refresh(.lock(name), grant: lease.grant, ttl: .seconds(1)))
                #expect(try await second.lock(named: name).breakLock())
                #expect(try await !first.backend.refresh(.lock(name), grant: lease.grant, ttl: .seconds(1)))
                var lost = false
                for await state in lease.states {
                    if case .lost = state { lost = true }
                }
                #expect(lost)
                #expect(try await !lease.release())
                #expect(try await !second.lock(named: name).breakLock())
            }
        }
    }

    @Test func brokenLockCancelsTheBody() async throws {
        try await withLockName { name in
            try await withTwoCoordinators { first, second in
                let error = await #expect(throws: ToozError.self) {
                    try await first.withLock(named: name, wait: .never) { _ in
                        #expect(try await second.lock(named: name).breakLock())
                        try await Task.sleep(for: .seconds(50))
                    }
                }
                #expect(error?.code == .leaseLost)
            }
        }
    }

    @Test func shutdownReleasesHeldLocks() async throws {
        try await withLockName { name in
            let first = try coordinator("ipc-test-a")
            try await first.withRunning {
                _ = try await first.lock(named: name).acquire(wait: .never)
            }
            #expect(try SysVSemaphore.open(key: .lock(name.rawValue)) == nil)
        }
    }

    @Test func internalLockNameIsReserved() async throws {
        try await withTwoCoordinators { first, _ in
            let error = await #expect(throws: ToozError.self) {
                try await first.lock(named: LockName(IPCKey.internalLockName)).acquire(wait: .never)
            }
            #expect(error?.code == .invalidArgument)
        }
    }

    // MARK: Groups

    @Test func groupsCreateListDelete() async throws {
        let group = Self.uniqueGroup()
        try await withTwoCoordinators { first, second in
            do {
                try await first.createGroup(group)
                #expect(try await first.groups().contains(group))
                #expect(try await second.groups().contains(group))
                let again = await #expect(throws: ToozError.self) { try await second.createGroup(group) }
                #expect(again?.code == .groupAlreadyExists)

                // tooz's layout: our id is a msgpack bin in the shared group list.
                let stored = try SysVSharedMemory.withSegment(key: .groupList, size: IPCGroupList.segmentSize) {
                    (segment) throws(ToozError) in try IPCGroupList(segment: Array(segment))
                }
                #expect(stored.entries.contains(.binary(Array(group.rawValue.utf8))))

                try await second.deleteGroup(group)
                #expect(try await !first.groups().contains(group))
                let missing = await #expect(throws: ToozError.self) { try await first.deleteGroup(group) }
                #expect(missing?.code == .groupNotCreated)
            } catch {
                try? await first.deleteGroup(group)
                throw error
            }
        }
    }

    @Test func disconnectKeepsTheGroupList() async throws {
        let group = Self.uniqueGroup()
        let first = try coordinator("ipc-test-a")
        try await first.withRunning { try await first.createGroup(group) }
        let second = try coordinator("ipc-test-b")
        try await second.withRunning {
            #expect(try await second.groups().contains(group))
            try await second.deleteGroup(group)
        }
    }

    @Test func membershipAndLeadershipAreNotImplemented() async throws {
        let group = Self.uniqueGroup()
        try await withTwoCoordinators { first, _ in
            let calls: [(String, @Sendable () async throws -> Void)] = [
                ("join", { try await first.join(group) }),
                ("leave", { try await first.leave(group) }),
                ("members", { _ = try await first.members(of: group) }),
                ("capabilities", { _ = try await first.capabilities(of: "m", in: group) }),
                ("update capabilities", { try await first.updateCapabilities(.nil, in: group) }),
                ("campaign", { _ = try await first.campaign(for: group, wait: .never) }),
                ("leader", { _ = try await first.leader(of: group) }),
                ("backend join", { try await first.backend.join(group, member: "m", capabilities: .nil) }),
                ("backend members", { _ = try await first.backend.members(of: group) }),
                ("backend leadership", {
                    _ = try await first.backend.tryAcquire(.leadership(group), owner: LockOwner(member: "m"), ttl: .seconds(1))
                }),
            ]
            for (label, call) in calls {
                let error = await #expect(throws: ToozError.self, "\(label)") { try await call() }
                #expect(error?.code == .notImplemented, "\(label)")
                #expect(error?.message.contains("ipc") == true, "\(label)")
            }
        }
    }
}

/// A value that tasks and Dispatch threads share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
