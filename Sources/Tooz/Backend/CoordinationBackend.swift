/// The narrow set of primitive operations a backend implements.
///
/// Everything that must behave the same on every backend (lease state machines, renewal,
/// cancel-on-loss, event diffs, campaigns, the partitioner, name validation, metrics) lives in
/// ``Coordinator``. A backend only stores and reads. It may assume that names were validated
/// against its ``BackendInfo/nameRules`` and that an operation is only called when
/// ``BackendInfo/features`` lists it; the defaults below throw `notImplemented` for safety.
///
/// Errors must be ``ToozError``s with the codes of the tooz exceptions they stand for.
public protocol CoordinationBackend: Sendable {
    /// What the backend can do and guarantees.
    var info: BackendInfo { get }

    /// Opens connections or files. Called once by ``Coordinator/run()`` before anything else.
    func connect() async throws
    /// Closes everything `connect()` opened. Called once, last. Must not throw.
    func disconnect() async
    /// The backend's cheapest real round trip, the yardstick of `tooz bench`.
    func ping() async throws

    // MARK: Groups

    /// tooz: `create_group`. Throws `groupAlreadyExists`.
    func createGroup(_ group: GroupID) async throws
    /// tooz: `delete_group`. Throws `groupNotCreated`, `groupNotEmpty`.
    func deleteGroup(_ group: GroupID) async throws
    /// tooz: `get_groups`.
    func groups() async throws -> [GroupID]
    /// tooz: `join_group`. Throws `groupNotCreated`, `memberAlreadyJoined`.
    func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws
    /// tooz: `leave_group`. Throws `memberNotJoined` or `groupNotCreated`.
    func leave(_ group: GroupID, member: MemberID) async throws
    /// tooz: `get_members_with_capabilities`: the live members and their capabilities.
    /// Throws `groupNotCreated`.
    func members(of group: GroupID) async throws -> [MemberID: Capabilities]
    /// tooz: `get_member_capabilities`. Throws `memberNotJoined` or `groupNotCreated`.
    func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities
    /// tooz: `update_capabilities`. Throws `groupNotCreated`, `memberNotJoined`.
    func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws
    /// Keeps `member`'s membership of `groups` alive (tooz: `heartbeat`). Called by the core
    /// every ``CoordinatorConfiguration/heartbeatInterval`` while the coordinator runs.
    func heartbeat(member: MemberID, groups: Set<GroupID>) async throws

    // MARK: Locks and leadership

    /// One attempt to take `key`. Returns `nil` when someone else holds it.
    /// `ttl` matters to ``LeaseKind/ttl`` backends only.
    func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant?
    /// Extends a held lock. Returns `false` when the lock is no longer ours (expired, broken,
    /// taken by someone else); throws when the backend could not be asked.
    func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool
    /// Releases a held lock. Returns `false` when it was not ours any more.
    func release(_ key: LockKey, grant: LockGrant) async throws -> Bool
    /// The member holding `key`, or `nil` when it is free or the holder cannot be known.
    func holder(of key: LockKey) async throws -> MemberID?
    /// Returns when `key` may have become free, or after `timeout`, whichever comes first.
    /// Backends that can be told about releases wake waiters at once; the default sleeps.
    func waitForRelease(of key: LockKey, timeout: Duration) async throws
    /// Waits like ``waitForRelease(of:timeout:)``, for `owner`'s own attempt: a backend that
    /// queues waiters (ZooKeeper's lock recipe) watches only the contender ahead of `owner`.
    /// The default calls ``waitForRelease(of:timeout:)``.
    func waitForRelease(of key: LockKey, owner: LockOwner, timeout: Duration) async throws
    /// The core has stopped trying to take `key` for `owner` without getting it (wait limit,
    /// error, cancellation). A backend that queued `owner` leaves the queue here, even when the
    /// calling task is cancelled. The default does nothing.
    func abandonAcquisition(of key: LockKey, owner: LockOwner) async
    /// tooz: `Lock.break_`. Removes whoever holds `key`. Returns whether something was removed.
    func breakLock(_ key: LockKey) async throws -> Bool

    // MARK: Events

    /// A signal notified whenever membership or leadership of `group` may have changed, or `nil`
    /// when the backend cannot push and the core must poll.
    func changeSignal(for group: GroupID) -> ChangeBroadcast?
}

extension CoordinationBackend {
    private func missing(_ feature: String) -> ToozError {
        .notImplemented(feature, backend: info.name)
    }

    public func ping() async throws {}

    public func createGroup(_ group: GroupID) async throws { throw missing("groups") }
    public func deleteGroup(_ group: GroupID) async throws { throw missing("groups") }
    public func groups() async throws -> [GroupID] { throw missing("groups") }
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        throw missing("group membership")
    }
    public func leave(_ group: GroupID, member: MemberID) async throws { throw missing("group membership") }
    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        throw missing("group membership")
    }
    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        throw missing("group membership")
    }
    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        throw missing("updating capabilities")
    }
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws {}

    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        throw missing("locks")
    }
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        throw missing("locks")
    }
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool { throw missing("locks") }
    public func holder(of key: LockKey) async throws -> MemberID? { throw missing("reading a lock's holder") }
    public func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        try await Task.sleep(for: timeout)
    }
    public func waitForRelease(of key: LockKey, owner: LockOwner, timeout: Duration) async throws {
        try await waitForRelease(of: key, timeout: timeout)
    }
    public func abandonAcquisition(of key: LockKey, owner: LockOwner) async {}
    public func breakLock(_ key: LockKey) async throws -> Bool { throw missing("breaking locks") }

    public func changeSignal(for group: GroupID) -> ChangeBroadcast? { nil }
}
