import Tooz

/// A backend that wraps another and passes every operation on, so that a test double states
/// only the operations it changes (fault injection, hanging requests, call logs).
package protocol ForwardingBackend: CoordinationBackend {
    var base: any CoordinationBackend { get }
}

extension ForwardingBackend {
    package var info: BackendInfo { base.info }
    package func connect(_ context: BackendContext) async throws { try await base.connect(context) }
    package func disconnect() async { await base.disconnect() }
    package func ping() async throws { try await base.ping() }
    package var taskExecutor: (any TaskExecutor)? { base.taskExecutor }

    package func createGroup(_ group: GroupID) async throws { try await base.createGroup(group) }
    package func deleteGroup(_ group: GroupID) async throws { try await base.deleteGroup(group) }
    package func groups() async throws -> [GroupID] { try await base.groups() }
    package func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        try await base.join(group, member: member, capabilities: capabilities)
    }
    package func leave(_ group: GroupID, member: MemberID) async throws { try await base.leave(group, member: member) }
    package func memberNames(of group: GroupID) async throws -> Set<MemberID> { try await base.memberNames(of: group) }
    package func members(of group: GroupID) async throws -> [MemberID: Capabilities] { try await base.members(of: group) }
    package func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        try await base.capabilities(of: member, in: group)
    }
    package func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try await base.updateCapabilities(capabilities, of: member, in: group)
    }
    package func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        try await base.heartbeat(member: member, groups: groups)
    }

    package func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        try await base.tryAcquire(key, owner: owner, ttl: ttl)
    }
    package func acquire(_ request: AcquireRequest) async throws -> LockGrant? { try await base.acquire(request) }
    package func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        try await base.refresh(key, grant: grant, ttl: ttl)
    }
    package func release(_ key: LockKey, grant: LockGrant) async throws -> Bool { try await base.release(key, grant: grant) }
    package func holder(of key: LockKey) async throws -> MemberID? { try await base.holder(of: key) }
    package func breakLock(_ key: LockKey) async throws -> Bool { try await base.breakLock(key) }
    package func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? { try await base.subscribe(to: topic) }
}
