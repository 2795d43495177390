/// The narrow set of primitive operations a backend implements.
///
/// Everything that must behave the same on every backend (lease and membership state machines,
/// renewal, cancel-on-loss, re-joining, event diffs, campaigns, the partitioner, name validation,
/// metrics) lives in ``Coordinator``. A backend stores, reads and reports:
///
/// - **Names** reaching it were validated against its ``BackendInfo/nameRules`` (reserved
///   names included), and an operation is only called when ``BackendInfo/features`` lists it.
/// - **Loss** is reported, never decided: what a backend learns about its connection or
///   session goes to ``BackendContext/report(_:)``; the coordinator turns it into states.
/// - **Grants** carry the backend's own handle (``LockGrant/handle``): no side tables.
/// - **Waiting** for a lock is ``acquire(_:)``: a backend that can block on the server or queue
///   waiters implements it natively; the default is the try/wait loop
///   (``pollingAcquire(_:)``) over ``tryAcquire(_:owner:ttl:)`` and ``subscribe(to:)``.
/// - **Changes** are subscriptions with a lifetime (``subscribe(to:)``).
///
/// Errors must be ``ToozError``s with the codes of the tooz exceptions they stand for. Features a
/// backend does not declare may throw `notImplemented`; the conformance suite fails a backend
/// that declares a feature and throws it.
public protocol CoordinationBackend: Sendable {
    /// What the backend can do and guarantees. It must not change while the backend exists:
    /// the coordinator reads it once.
    var info: BackendInfo { get }

    /// Opens connections or files. Called once by ``Coordinator/run()`` before anything else,
    /// with the logger, clock and signal sink the backend keeps until ``disconnect()``.
    func connect(_ context: BackendContext) async throws
    /// Closes everything `connect(_:)` opened. Called once, last. Must not throw.
    func disconnect() async
    /// The backend's cheapest real round trip, the yardstick of `tooz bench`.
    func ping() async throws
    /// Where the backend does its I/O (a SwiftNIO event loop), or `nil`. The coordinator runs
    /// its operations and loops there, so that a request and its reply cost no thread hop.
    var taskExecutor: (any TaskExecutor)? { get }

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
    /// tooz: `get_members`: the live members' ids. Throws `groupNotCreated`. The default reads
    /// ``members(of:)``; a backend that lists names in one round trip implements it.
    func memberNames(of group: GroupID) async throws -> Set<MemberID>
    /// tooz: `get_members_with_capabilities`: the live members and their capabilities.
    /// Throws `groupNotCreated`.
    func members(of group: GroupID) async throws -> [MemberID: Capabilities]
    /// tooz: `get_member_capabilities`. Throws `memberNotJoined` or `groupNotCreated`.
    func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities
    /// tooz: `update_capabilities`. Throws `groupNotCreated`, `memberNotJoined`.
    func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws
    /// Keeps `member`'s membership of `groups` alive (tooz: `heartbeat`), every
    /// ``CoordinatorConfiguration/heartbeatInterval`` and at once after a signal. Returns the
    /// groups in which the member's record is gone (a new session lost its ephemeral nodes); the
    /// coordinator re-joins those with the capabilities it holds. Throws when it could not beat.
    func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult

    // MARK: Locks and leadership

    /// One attempt to take `key`. Returns `nil` when someone else holds it.
    /// `ttl` matters to ``LeaseKind/ttl`` backends only.
    func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant?
    /// Takes `request.key`, waiting until its deadline. Returns `nil` when it stayed busy. Must
    /// leave nothing behind (a queued node, a pending server-side wait) when it returns `nil`,
    /// throws, or its task is cancelled. The default is ``pollingAcquire(_:)``.
    func acquire(_ request: AcquireRequest) async throws -> LockGrant?
    /// Extends a held lock. Returns `false` when the lock is no longer ours (expired, broken,
    /// taken by someone else); throws when the backend could not be asked. The coordinator
    /// cancels it at the lease's safe deadline.
    func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool
    /// Releases a held lock. Returns `false` when it was not ours any more, or was released.
    func release(_ key: LockKey, grant: LockGrant) async throws -> Bool
    /// The member holding `key`, or `nil` when it is free or the holder cannot be known.
    func holder(of key: LockKey) async throws -> MemberID?
    /// tooz: `Lock.break_`. Removes whoever holds `key`. Returns whether something was removed.
    func breakLock(_ key: LockKey) async throws -> Bool

    // MARK: Changes

    /// Starts following `topic`, or returns `nil` when the backend cannot push changes of it
    /// and the coordinator must poll.
    func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription?
}

/// What one heartbeat found.
public struct HeartbeatResult: Sendable, Hashable {
    /// Groups in which the member's record is gone and must be re-joined.
    public var missing: Set<GroupID>
    /// The membership lease the store really applies, when it differs from the configured
    /// membership TTL (a ZooKeeper session timeout).
    public var ttl: Duration?

    public init(missing: Set<GroupID> = [], ttl: Duration? = nil) {
        self.missing = missing
        self.ttl = ttl
    }

    /// Every record is there.
    public static let alive = HeartbeatResult()
}

extension CoordinationBackend {
    private func missing(_ feature: String) -> ToozError {
        .notImplemented(feature, backend: info.name)
    }

    public func ping() async throws {}
    public var taskExecutor: (any TaskExecutor)? { nil }

    /// Connects for use without a coordinator (tools, tests): signals go nowhere.
    public func connect() async throws {
        try await connect(.detached())
    }

    public func createGroup(_ group: GroupID) async throws { throw missing("groups") }
    public func deleteGroup(_ group: GroupID) async throws { throw missing("groups") }
    public func groups() async throws -> [GroupID] { throw missing("groups") }
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        throw missing("group membership")
    }
    public func leave(_ group: GroupID, member: MemberID) async throws { throw missing("group membership") }
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        Set(try await members(of: group).keys)
    }
    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        throw missing("group membership")
    }
    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        throw missing("group membership")
    }
    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        throw missing("updating capabilities")
    }
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult { .alive }

    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        throw missing("locks")
    }
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        try await pollingAcquire(request)
    }
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        throw missing("locks")
    }
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool { throw missing("locks") }
    public func holder(of key: LockKey) async throws -> MemberID? { throw missing("reading a lock's holder") }
    public func breakLock(_ key: LockKey) async throws -> Bool { throw missing("breaking locks") }

    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? { nil }
}
