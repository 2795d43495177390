import Synchronization

/// The `ipc://` backend: System V semaphores and shared memory on one host, in Python tooz's
/// `ipc` driver layout, so Python and Swift processes share its locks and its group list.
///
/// - Locks: one semaphore per lock name (key `ftok(name, "__TOOZ_LOCK_")`), taken with
///   `SEM_UNDO`, so a holder that dies gives the lock back. Release and ``breakLock(_:)`` remove
///   the semaphore, as tooz does. A broken lock is noticed by the next refresh. A waiter hears
///   of a release at once: for a lock held in another process it sleeps in the kernel on the
///   holder's semaphore (on a Dispatch thread, never on the concurrency pool) and wakes when the
///   semaphore is removed or a dead holder's unit comes back; for a lock held in this process the
///   release wakes it directly (``IPCProcessLocks``).
/// - Groups: tooz's group list in the shared segment `ftok("GROUP_LIST", "_TOOZ_INTERNAL")`,
///   1024 bytes, guarded by tooz's internal lock `TOOZ_INTERNAL_LOCK`. It holds group ids only,
///   about 1 KiB of them for the whole host.
/// - Fencing tokens are readings of the host's `CLOCK_BOOTTIME` taken by each new holder right
///   after its decrement succeeded (see ``IPCFencingClock``): they grow strictly from one holder
///   of a lock to the next, in any process of the host, and reset at reboot. Minting one takes
///   no lock and no system call.
///
/// Unlike tooz, ``disconnect()`` does not remove the group-list segment: in tooz that wipes the
/// group list of every process on the host.
///
/// The URL is `ipc://` with no host or path. Options: `executor` (accepted and ignored, as in
/// Python) and the common timing options. The lock poll interval defaults to 50 ms: it is only
/// how long one wait lasts before the waiter looks again (and the longest a cancelled wait keeps
/// its Dispatch thread), since a release wakes a waiter at once. The one event a waiter does not
/// hear of at once is another process breaking a lock that this process holds: it notices at
/// the end of that wait.
public final class IPCBackend: CoordinationBackend {
    /// How long a group operation may wait for tooz's internal lock before it fails with
    /// `timedOut` (a Python process stopped while holding it, for example).
    public let internalLockTimeout: Duration

    /// The longest one ``waitForRelease(of:timeout:)`` waits, whatever timeout it is given, so
    /// that a Dispatch thread is never held for long; also the default lock poll interval.
    static let defaultMaximumWait = Duration.milliseconds(50)

    /// ``defaultMaximumWait``, or longer in tests that must see a wait end for its reason only.
    let maximumWait: Duration

    let groupListKey: IPCKey

    /// Each lock name's semaphore key, hashed once.
    let lockKeys = IPCLockKeyCache()

    /// A backend on the host's tooz keys.
    public convenience init(internalLockTimeout: Duration = .seconds(10)) {
        self.init(internalLockTimeout: internalLockTimeout, groupListKey: .groupList)
    }

    /// A backend on another group-list segment, or with another longest wait.
    init(internalLockTimeout: Duration, groupListKey: IPCKey, maximumWait: Duration = defaultMaximumWait) {
        self.internalLockTimeout = internalLockTimeout
        self.groupListKey = groupListKey
        self.maximumWait = maximumWait
    }

    /// Groups, locks and breaking locks, as in tooz's `ipc` driver.
    ///
    /// Not implemented, because tooz's driver has no place to store them: membership (join,
    /// leave, members), capabilities, leader election and the leader query. Those calls throw
    /// `notImplemented` naming the `ipc` backend. Locks are ``LeaseKind/session`` leases (they
    /// last until released or until the holding process dies); fencing tokens are
    /// ``FencingStrength/hostLocal`` (they reset at reboot); events are ``EventDelivery/polled``.
    ///
    /// Stored, not computed: the coordinator reads it several times per acquisition.
    public let info = BackendInfo(
        name: "ipc",
        features: [.groups, .locks, .breakLock],
        fencing: .hostLocal,
        eventDelivery: .polled,
        leaseKind: .session,
        characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .nonTimeoutBased]
    )

    /// Builds the backend for an `ipc://` URL. Called from ``LocalBackends/make(_:)``.
    static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        guard url.host == nil, url.port == nil, url.user == nil, url.password == nil, url.path.isEmpty || url.path == "/" else {
            throw ToozError(
                .invalidConfiguration,
                "\(url.redacted) names a host or path, but the ipc backend is local to this host; use ipc://"
            )
        }
        try url.validateOptions(accepted: CoordinatorConfiguration.urlOptions.union(["executor"]))
        var configuration = CoordinatorConfiguration()
        configuration.lockPollInterval = defaultMaximumWait
        try configuration.apply(url)
        return (IPCBackend(internalLockTimeout: configuration.operationTimeout), configuration)
    }

    // MARK: Lifecycle

    /// Opens (or creates, as tooz's `_start` does) the group-list segment, which also proves that
    /// System V IPC is available.
    public func connect(_ context: BackendContext) async throws {
        do throws(ToozError) {
            try SysVSharedMemory.open(key: groupListKey, size: IPCGroupList.segmentSize)
        } catch {
            throw ToozError(.connectionFailed, "System V IPC is not usable: \(error.message)", underlying: error)
        }
    }

    /// Nothing to close: the group list stays, and a lock still held is removed when its grant
    /// goes (``HeldSemaphore``), so a later coordinator in this process does not find it stuck.
    public func disconnect() async {}

    /// One `shmget` of the group-list segment: the cheapest real System V call.
    public func ping() async throws {
        try SysVSharedMemory.open(key: groupListKey, size: IPCGroupList.segmentSize)
    }

    // MARK: Groups

    /// tooz: `create_group`.
    public func createGroup(_ group: GroupID) async throws {
        try await updateGroupList { (list) throws(ToozError) in
            guard list.insert(group) else { throw .groupAlreadyExists(group) }
        }
    }

    /// tooz: `delete_group`. There are no members to check for, since the driver has none.
    public func deleteGroup(_ group: GroupID) async throws {
        try await updateGroupList { (list) throws(ToozError) in
            guard list.remove(group) else { throw .groupNotCreated(group) }
        }
    }

    /// tooz: `get_groups`.
    public func groups() async throws -> [GroupID] {
        try await withInternalLock { () throws(ToozError) in
            try SysVSharedMemory.withSegment(key: groupListKey, size: IPCGroupList.segmentSize) {
                (segment) throws(ToozError) -> [GroupID] in
                try IPCGroupList(segment: Array(segment)).groups
            }
        }
    }

    /// Reads, changes and writes the group list under the internal lock; nothing is written
    /// when `change` throws.
    private func updateGroupList(_ change: (inout IPCGroupList) throws(ToozError) -> Void) async throws {
        try await withInternalLock { () throws(ToozError) in
            try SysVSharedMemory.withSegment(key: groupListKey, size: IPCGroupList.segmentSize) {
                (segment) throws(ToozError) in
                var list = try IPCGroupList(segment: Array(segment))
                try change(&list)
                let bytes = try list.encodedSegment()
                segment.copyBytes(from: bytes)
            }
        }
    }

    // MARK: Locks

    /// One non-blocking try (tooz `IPCLock.acquire(blocking=False)`, which Python's PyPI wheel
    /// cannot even do), then a fencing token read from the host's clock while the lock is held.
    ///
    /// Two system calls when the lock is free (create the semaphore, take it) and three when it
    /// is busy (create fails, open, the decrement fails).
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let semaphoreKey = try semaphoreKey(for: key)
        guard let semaphore = try IPCLock.tryAcquire(semaphoreKey) else { return nil }
        let token = IPCFencingClock.token()
        IPCProcessLocks.shared.acquired(semaphore, key: semaphoreKey)
        let held = HeldSemaphore(semaphore: semaphore, key: semaphoreKey)
        return LockGrant(owner: owner, fencingToken: FencingToken(token, strength: .hostLocal), handle: held)
    }

    /// Nothing to extend (the lease is a session lease); checks that the semaphore we took is still
    /// the lock's and still held, which is how a broken lock is noticed.
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        let semaphoreKey = try semaphoreKey(for: key)
        guard let semaphore = grant.handle(as: HeldSemaphore.self)?.current else { return false }
        return try IPCLock.isHeld(semaphore, key: semaphoreKey)
    }

    /// tooz `IPCLock.release`: removes the semaphore (one system call), which wakes every
    /// waiter at once: those of other processes in the kernel, ours directly. `false` when it had
    /// been broken.
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        _ = try lockName(of: key)
        guard let held = grant.handle(as: HeldSemaphore.self), let semaphore = held.take() else { return false }
        let semaphoreKey = held.key
        defer { IPCProcessLocks.shared.released(semaphore, key: semaphoreKey) }
        return try IPCLock.release(semaphore)
    }

    /// Tries, and between tries sleeps in ``waitForRelease(of:timeout:)``, which a release in any
    /// process ends at once.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        try await pollingAcquire(request) { nap in try await self.waitForRelease(of: request.key, timeout: nap) }
    }

    /// Sleeps until the lock may be free: its semaphore is removed (a release or a break), a
    /// dead holder's unit comes back, or `timeout` (at most ``maximumWait``) passes.
    ///
    /// The semaphore is looked up by key on every call (a removed semaphore's id may be reused
    /// by the kernel). When this process holds it, the wait is for this process's release or
    /// break (``IPCProcessLocks``), with no thread asleep. Otherwise it is a `semtimedop` on a
    /// Dispatch thread (see ``IPCLock/waitForRelease(_:timeout:)`` and ``BlockingOffload``),
    /// which a release in another process or a holder's death ends at once, and a release here
    /// ends too. A cancelled wait returns at once; a thread still asleep ends at its timeout.
    func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        let semaphoreKey = try semaphoreKey(for: key)
        let limit = min(timeout, maximumWait)
        guard limit > .zero, !Task.isCancelled else { return }
        // Registered before the lookup: a release from now on opens the gate.
        let gate = IPCProcessLocks.Gate()
        IPCProcessLocks.shared.add(gate, for: semaphoreKey)
        defer { IPCProcessLocks.shared.remove(gate, for: semaphoreKey) }
        guard let semaphore = try SysVSemaphore.open(key: semaphoreKey) else { return }  // free now
        let outcome: Swift.Result<IPCLock.WaitOutcome, ToozError>?
        if IPCProcessLocks.shared.holds(semaphore, key: semaphoreKey) {
            // Only a break from another process would free it unseen: then the timeout does.
            outcome = await gate.wait(upTo: limit, orElse: .success(.timedOut))
        } else {
            outcome = await BlockingOffload.run(ending: gate) {
                Swift.Result { () throws(ToozError) in try IPCLock.waitForRelease(semaphore, timeout: limit) }
            }
        }
        _ = try outcome?.get()
    }

    /// tooz `IPCLock.break_`: removes the lock's semaphore, whoever holds it.
    public func breakLock(_ key: LockKey) async throws -> Bool {
        let semaphoreKey = try semaphoreKey(for: key)
        defer { IPCProcessLocks.shared.broke(semaphoreKey) }
        return try IPCLock.breakLock(semaphoreKey)
    }

    private func semaphoreKey(for key: LockKey) throws(ToozError) -> IPCKey {
        try lockKeys.key(for: lockName(of: key))
    }

    /// The tooz lock name of `key`. Refuses what the ipc backend cannot lock: leadership, and
    /// tooz's internal lock.
    private func lockName(of key: LockKey) throws(ToozError) -> String {
        switch key {
        case .lock(let name):
            // Holding it as a user lock would stall every group operation.
            guard name.rawValue != IPCKey.internalLockName else {
                throw ToozError(
                    .invalidArgument,
                    "lock name \(name.rawValue.debugDescription) is reserved: the ipc backend guards its group list with it"
                )
            }
            return name.rawValue
        case .leadership:
            throw ToozError.notImplemented("leader election", backend: info.name)
        }
    }

    /// Runs `body` holding tooz's internal lock `TOOZ_INTERNAL_LOCK`, polling for it without
    /// blocking a thread. It is held for a few system calls at a time, by us or by Python.
    private func withInternalLock<Result>(_ body: () throws(ToozError) -> Result) async throws -> Result {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: internalLockTimeout)
        var nap = Duration.microseconds(100)
        while true {
            if let semaphore = try IPCLock.tryAcquire(.internalLock) {
                let result = Swift.Result { () throws(ToozError) in try body() }
                let released = Swift.Result { () throws(ToozError) in try IPCLock.release(semaphore) }
                let value = try result.get()
                _ = try released.get()
                return value
            }
            if clock.now >= deadline {
                throw ToozError(
                    .timedOut,
                    "tooz's internal ipc lock \(IPCKey.internalLockName) (semaphore \(IPCKey.internalLock)) stayed busy for \(internalLockTimeout); a process may be stopped while holding it"
                )
            }
            try await Task.sleep(for: nap)
            nap = min(nap * 2, .milliseconds(5))
        }
    }
}
