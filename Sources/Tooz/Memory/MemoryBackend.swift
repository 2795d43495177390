import Synchronization
/// The `memory://` backend: every feature, in process, deterministic on an injectable clock.
///
/// The reference for the conformance suite and a test double for users' own tests. Members
/// expire `membershipTTL` after their last heartbeat and locks `ttl` after their last refresh,
/// on the store's clock, exactly like a TTL server backend.
public struct MemoryBackend: CoordinationBackend {
    public let store: MemoryStore
    public let membershipTTL: Duration

    public init(store: MemoryStore = MemoryStore(), membershipTTL: Duration = .seconds(30)) {
        self.store = store
        self.membershipTTL = membershipTTL
    }

    public var info: BackendInfo {
        BackendInfo(
            name: "memory",
            features: .all,
            fencing: .hostLocal,
            eventDelivery: .pushed,
            leaseKind: .ttl,
            characteristics: [.distributedAcrossThreads, .linearizable]
        )
    }

    public func connect(_ context: BackendContext) async throws { try checkReachable() }
    public func disconnect() async {}
    public func ping() async throws { try checkReachable() }

    private func checkReachable() throws(ToozError) {
        if store.failOperations {
            throw ToozError(.connectionFailed, "the memory store is failing operations on purpose (failOperations)")
        }
    }

    /// Runs `body` on the state after dropping expired members and locks.
    private func withState<T>(_ body: (inout MemoryStore.State, Duration) throws(ToozError) -> T) throws(ToozError) -> T {
        try checkReachable()
        let now = store.clock.now()
        var expiredLocks = false
        var touched: [ChangeBroadcast] = []
        let result = try store.state.withLock { (state: inout MemoryStore.State) throws(ToozError) -> T in
            for (group, members) in state.groups {
                let dead = members.filter { $0.value.expiresAt <= now }.keys
                if !dead.isEmpty {
                    dead.forEach { state.groups[group]?.removeValue(forKey: $0) }
                    touched.append(MemoryStore.signal(for: group, in: &state))
                }
            }
            for (key, holder) in state.locks where holder.expiresAt <= now {
                state.locks.removeValue(forKey: key)
                expiredLocks = true
                if case .leadership(let group) = key { touched.append(MemoryStore.signal(for: group, in: &state)) }
            }
            return try body(&state, now)
        }
        if expiredLocks { store.lockReleased.notifyAll() }
        touched.forEach { $0.notifyAll() }
        return result
    }

    private func notify(_ group: GroupID) { store.signal(for: group).notifyAll() }

    // MARK: Groups

    public func createGroup(_ group: GroupID) async throws {
        try withState { state, _ throws(ToozError) in
            guard state.groups[group] == nil else { throw .groupAlreadyExists(group) }
            state.groups[group] = [:]
        }
    }

    public func deleteGroup(_ group: GroupID) async throws {
        try withState { state, _ throws(ToozError) in
            guard let members = state.groups[group] else { throw .groupNotCreated(group) }
            guard members.isEmpty else { throw .groupNotEmpty(group) }
            state.groups.removeValue(forKey: group)
        }
        notify(group)
    }

    public func groups() async throws -> [GroupID] {
        try withState { state, _ in Array(state.groups.keys) }
    }

    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        try withState { state, now throws(ToozError) in
            guard let members = state.groups[group] else { throw .groupNotCreated(group) }
            guard members[member] == nil else { throw .memberAlreadyJoined(member, group) }
            state.groups[group]![member] = MemoryStore.Member(capabilities: capabilities, expiresAt: now + membershipTTL)
        }
        notify(group)
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        try withState { state, _ throws(ToozError) in
            guard state.groups[group] != nil else { throw .groupNotCreated(group) }
            guard state.groups[group]!.removeValue(forKey: member) != nil else { throw .memberNotJoined(member, group) }
        }
        notify(group)
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try withState { state, _ throws(ToozError) in
            guard let members = state.groups[group] else { throw .groupNotCreated(group) }
            return members.mapValues(\.capabilities)
        }
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        try withState { state, _ throws(ToozError) in
            guard let members = state.groups[group] else { throw .groupNotCreated(group) }
            guard let found = members[member] else { throw .memberNotJoined(member, group) }
            return found.capabilities
        }
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try withState { state, _ throws(ToozError) in
            guard state.groups[group] != nil else { throw .groupNotCreated(group) }
            guard state.groups[group]![member] != nil else { throw .memberNotJoined(member, group) }
            state.groups[group]![member]!.capabilities = capabilities
        }
        notify(group)
    }

    /// Extends the member's records; reports the groups where its record expired or was removed.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        try withState { state, now in
            var missing: Set<GroupID> = []
            for group in groups {
                if state.groups[group]?[member] != nil {
                    state.groups[group]![member]!.expiresAt = now + membershipTTL
                } else {
                    missing.insert(group)
                }
            }
            return HeartbeatResult(missing: missing)
        }
    }

    // MARK: Locks

    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let grant = try withState { state, now -> LockGrant? in
            guard state.locks[key] == nil else { return nil }
            state.locks[key] = MemoryStore.Holder(owner: owner, expiresAt: now + ttl)
            let token = state.fencing[key, default: 0] + 1
            state.fencing[key] = token
            return LockGrant(owner: owner, fencingToken: FencingToken(token, strength: .hostLocal))
        }
        if grant != nil, case .leadership(let group) = key { notify(group) }
        return grant
    }

    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        try withState { state, now in
            guard state.locks[key]?.owner == grant.owner else { return false }
            state.locks[key]!.expiresAt = now + ttl
            return true
        }
    }

    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        let released = try withState { state, _ in
            guard state.locks[key]?.owner == grant.owner else { return false }
            state.locks.removeValue(forKey: key)
            return true
        }
        if released {
            store.lockReleased.notifyAll()
            if case .leadership(let group) = key { notify(group) }
        }
        return released
    }

    public func holder(of key: LockKey) async throws -> MemberID? {
        try withState { state, _ in state.locks[key]?.owner.member }
    }

    public func breakLock(_ key: LockKey) async throws -> Bool {
        let broken = try withState { state, _ in state.locks.removeValue(forKey: key) != nil }
        if broken {
            store.lockReleased.notifyAll()
            if case .leadership(let group) = key { notify(group) }
        }
        return broken
    }

    /// Releases and breaks notify lock subscribers; an expiry is noticed by the waiter's next
    /// attempt, within its poll interval.
    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? {
        switch topic {
        case .group(let group): ChangeSubscription(signal: store.signal(for: group))
        case .lock: ChangeSubscription(signal: store.lockReleased)
        }
    }
}

extension ToozError {
    /// tooz: `GroupNotCreated` — "Group {g} does not exist".
    public static func groupNotCreated(_ group: GroupID) -> ToozError {
        ToozError(.groupNotCreated, "group \(group.rawValue.debugDescription) does not exist")
    }
    /// tooz: `GroupAlreadyExist`.
    public static func groupAlreadyExists(_ group: GroupID) -> ToozError {
        ToozError(.groupAlreadyExists, "group \(group.rawValue.debugDescription) already exists")
    }
    /// tooz: `GroupNotEmpty`.
    public static func groupNotEmpty(_ group: GroupID) -> ToozError {
        ToozError(.groupNotEmpty, "group \(group.rawValue.debugDescription) is not empty")
    }
    /// tooz: `MemberAlreadyExist`.
    public static func memberAlreadyJoined(_ member: MemberID, _ group: GroupID) -> ToozError {
        ToozError(.memberAlreadyJoined, "member \(member.rawValue.debugDescription) has already joined group \(group.rawValue.debugDescription)")
    }
    /// tooz: `MemberNotJoined`.
    public static func memberNotJoined(_ member: MemberID, _ group: GroupID) -> ToozError {
        ToozError(.memberNotJoined, "member \(member.rawValue.debugDescription) has not joined group \(group.rawValue.debugDescription)")
    }
}
