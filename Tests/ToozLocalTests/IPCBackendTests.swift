import Testing
import ToozBackends

@testable import ToozLocal

/// Live tests on the host's System V IPC. Lock and group names are unique per test; each test
/// instance has a fencing-counter segment of its own and removes it in `deinit`; the shared
/// group-list segment is left in place with the test groups removed.
@Suite(.timeLimit(.minutes(1)))
final class IPCBackendTests: Sendable {
    let fencingKey = IPCKey(name: "test-" + LockOwner.randomToken(), project: "_SWIFT_TOOZ_TEST")

    deinit {
        _ = try? SysVSharedMemory.remove(key: fencingKey)
    }

    // MARK: Helpers

    func makeBackend() -> IPCBackend {
        IPCBackend(internalLockTimeout: .seconds(10), groupListKey: .groupList, fencingKey: fencingKey)
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

    static func uniqueLockName() -> LockName { LockName("swift-ipc-test-" + LockOwner.randomToken()) }
    static func uniqueGroup() -> GroupID { GroupID("t-" + LockOwner.randomToken().prefix(10)) }

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
        #expect(configuration.lockPollInterval == .milliseconds(5))
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
                        let lease = try await second.lock(named: name).acquire(wait: .seconds(30))
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
                    tokens.append(try await coordinator.withLock(named: name, wait: .seconds(10)) { $0.fencingToken })
                }
                #expect(tokens.allSatisfy { $0.strength == .hostLocal })
                #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0.value < $1.value })
                #expect(tokens.first!.value >= 1)
                #expect(try IPCFencingCounter.current(key: fencingKey) == tokens.last!.value)
            }
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
