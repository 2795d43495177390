import Foundation
import Tooz

extension EtcdBackend {
    /// tooz's `create_group`: put the placeholder if it has no version yet.
    public func createGroup(_ group: GroupID) async throws {
        let key = EtcdKeys.group(group)
        let response = try await client.txn(
            EtcdOperations.txn([EtcdOperations.compare(key, .version, .equal, 0)], success: [EtcdOperations.put(key, value: key)])
        )
        if !response.succeeded { throw ToozError(.groupAlreadyExists, "group \(group.rawValue.debugDescription) already exists") }
    }

    /// Deletes the placeholder only while the group has no member key, in one transaction (tooz
    /// reads, then deletes: a member joining in between is orphaned).
    public func deleteGroup(_ group: GroupID) async throws {
        let key = EtcdKeys.group(group)
        let members = EtcdKeys.memberRange(of: group)
        let response = try await client.txn(
            EtcdOperations.txn(
                [
                    EtcdOperations.compare(key, .version, .greater, 0),
                    // Over a range: every key in it must compare, and an empty range compares as
                    // a key that was never created.
                    EtcdOperations.compare(members.key, rangeEnd: members.rangeEnd, .create, .equal, 0),
                ],
                success: [EtcdOperations.delete(key)],
                failure: [EtcdOperations.range(key, countOnly: true)]
            )
        )
        guard !response.succeeded else { return }
        if response.responses.first?.responseRange.count ?? 0 == 0 { throw ToozError.groupNotCreated(group) }
        throw ToozError(.groupNotEmpty, "group \(group.rawValue.debugDescription) still has members")
    }

    /// Every placeholder under `tooz/groups/`: a key ending in `/` whose value is the key itself
    /// (tooz's `get_groups` also lists member keys as junk groups).
    public func groups() async throws -> [GroupID] {
        let prefix = EtcdKeys.groupsPrefix
        let response = try await client.range(EtcdOperations.rangeRequest(prefix, rangeEnd: EtcdKeys.rangeEnd(ofPrefix: prefix)))
        return response.kvs.compactMap { kv -> GroupID? in
            guard kv.key.last == UInt8(ascii: "/"), kv.key == kv.value, kv.key.count > prefix.count + 1 else { return nil }
            guard let name = String(validating: kv.key.dropFirst(prefix.count).dropLast(), as: UTF8.self) else { return nil }
            return GroupID(name)
        }
    }

    /// Puts the member key on the session lease if the group exists and the member does not.
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        let groupKey = EtcdKeys.group(group)
        let memberKey = EtcdKeys.member(member, of: group)
        let value = OsloMsgPack.encode(capabilities)
        try await withSessionLease { lease in
            let response = try await client.txn(
                EtcdOperations.txn(
                    [EtcdOperations.compare(groupKey, .version, .greater, 0), EtcdOperations.compare(memberKey, .create, .equal, 0)],
                    success: [EtcdOperations.put(memberKey, value: value, lease: lease.id)],
                    failure: [EtcdOperations.range(groupKey, countOnly: true), EtcdOperations.range(memberKey)]
                )
            )
            guard !response.succeeded else { return }
            if response.responses.first?.responseRange.count ?? 0 == 0 { throw ToozError.groupNotCreated(group) }
            // Our own key on our lease: an earlier join whose answer was lost.
            if let existing = response.kvs(at: 1).first, existing.lease == lease.id, existing.value == Data(value) { return }
            throw ToozError(.memberAlreadyJoined, "member \(member.rawValue.debugDescription) has already joined group \(group.rawValue.debugDescription)")
        }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        let groupKey = EtcdKeys.group(group)
        let memberKey = EtcdKeys.member(member, of: group)
        let response = try await client.txn(
            EtcdOperations.txn(
                [EtcdOperations.compare(memberKey, .create, .greater, 0)],
                success: [EtcdOperations.delete(memberKey)],
                failure: [EtcdOperations.range(groupKey, countOnly: true)]
            )
        )
        guard !response.succeeded else { return }
        if response.responses.first?.responseRange.count ?? 0 == 0 { throw ToozError.groupNotCreated(group) }
        throw ToozError.memberNotJoined(member, group)
    }

    /// One prefix read, keys only: the placeholder proves the group, every other key is a member.
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        let kvs = try await groupKeys(group, keysOnly: true)
        return Set(kvs.map { memberID(of: $0, in: group) })
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        var members: [MemberID: Capabilities] = [:]
        for kv in try await groupKeys(group, keysOnly: false) {
            let member = memberID(of: kv, in: group)
            members[member] = try OsloMsgPack.decodeCapabilities(Array(kv.value), of: member, in: group)
        }
        return members
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        let groupKey = EtcdKeys.group(group)
        let response = try await client.txn(
            EtcdOperations.txn([], success: [EtcdOperations.range(groupKey, countOnly: true), EtcdOperations.range(EtcdKeys.member(member, of: group))])
        )
        if response.responses.first?.responseRange.count ?? 0 == 0 { throw ToozError.groupNotCreated(group) }
        guard let kv = response.kvs(at: 1).first else { throw ToozError.memberNotJoined(member, group) }
        return try OsloMsgPack.decodeCapabilities(Array(kv.value), of: member, in: group)
    }

    /// Replaces the value and keeps the key's lease (`ignore_lease`), only while the key exists.
    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        let groupKey = EtcdKeys.group(group)
        let memberKey = EtcdKeys.member(member, of: group)
        let value = OsloMsgPack.encode(capabilities)
        let response = try await client.txn(
            EtcdOperations.txn(
                [EtcdOperations.compare(memberKey, .create, .greater, 0)],
                success: [EtcdOperations.put(memberKey, value: value, ignoreLease: true)],
                failure: [EtcdOperations.range(groupKey, countOnly: true)]
            )
        )
        guard !response.succeeded else { return }
        if response.responses.first?.responseRange.count ?? 0 == 0 { throw ToozError.groupNotCreated(group) }
        throw ToozError.memberNotJoined(member, group)
    }

    /// Keeps the session lease alive and checks, in the same moment, that each member key is
    /// there on it. A key that is gone (or on an old lease) is reported for the coordinator to
    /// re-join; a lease that expired ends the session and every membership with it.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        let lease = try await sessionLease()
        let ordered = Array(groups)
        async let alive = keepAlive(lease)
        async let read = client.txn(EtcdOperations.txn([], success: ordered.map { EtcdOperations.range(EtcdKeys.member(member, of: $0), keysOnly: true) }))
        guard try await alive else {
            _ = try? await read
            return HeartbeatResult(missing: groups, ttl: lease.ttl)
        }
        let response = try await read
        var missing: Set<GroupID> = []
        for (index, group) in ordered.enumerated() {
            let kv = response.kvs(at: index).first
            if kv == nil || kv?.lease != lease.id { missing.insert(group) }
        }
        return HeartbeatResult(missing: missing, ttl: lease.ttl)
    }

    // MARK: Helpers

    /// The group's keys, placeholder excluded; throws `groupNotCreated` without a placeholder.
    private func groupKeys(_ group: GroupID, keysOnly: Bool) async throws -> [Mvccpb_KeyValue] {
        let placeholder = EtcdKeys.group(group)
        let response = try await client.range(
            EtcdOperations.rangeRequest(placeholder, rangeEnd: EtcdKeys.rangeEnd(ofPrefix: placeholder), keysOnly: keysOnly)
        )
        let placeholderData = Data(placeholder)
        guard response.kvs.contains(where: { $0.key == placeholderData }) else { throw ToozError.groupNotCreated(group) }
        return response.kvs.filter { $0.key != placeholderData }
    }

    private func memberID(of kv: Mvccpb_KeyValue, in group: GroupID) -> MemberID {
        MemberID(String(decoding: kv.key.dropFirst(EtcdKeys.group(group).count), as: UTF8.self))
    }
}
