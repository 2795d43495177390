import Tooz

extension MemcachedBackend {
    /// How many conflicting writes a read-modify-write of one record survives before it gives
    /// up (tooz retries forever).
    static let casAttempts = 100

    public func createGroup(_ group: GroupID) async throws {
        let reply = try await client.send(
            MemcachedRequest.set(
                MemcachedKeys.group(group), value: MemcachedGroupMap().encoded, clientFlags: MemcachedKeys.Flags.msgpack,
                ttl: 0, mode: .add, returnCAS: false
            )
        )
        switch reply.status {
        case .stored: break
        case .notStored: throw ToozError.groupAlreadyExists(group)
        default: throw unexpected(reply, to: "the creation of group \(group)")
        }
        try await updateGroupList { groups in
            if groups.contains(group) { return false }
            groups.append(group)
            return true
        }
    }

    /// tooz's order: the record is set to nil (so that a concurrent join fails its CAS), then
    /// deleted, then the id leaves the group list. Members whose liveness key is gone do not
    /// keep a group alive (tooz would refuse until a `get_members` pruned them).
    public func deleteGroup(_ group: GroupID) async throws {
        let key = MemcachedKeys.group(group)
        for _ in 0..<Self.casAttempts {
            let read = try await readGroup(group)
            let live = try await liveMembers(of: read.map)
            if !live.isEmpty { throw ToozError.groupNotEmpty(group) }
            let tombstone = try MemcachedRequest.set(
                key, value: OsloMsgPack.encode(.nil), clientFlags: MemcachedKeys.Flags.msgpack, ttl: 0,
                compareCAS: read.cas, returnCAS: false
            )
            let reply = try await client.send(tombstone)
            switch reply.status {
            case .stored:
                _ = try await client.send(MemcachedRequest.delete(key))
                try await updateGroupList { groups in
                    let before = groups.count
                    groups.removeAll { $0 == group }
                    return groups.count != before
                }
                return
            case .exists: continue
            case .notFound: throw ToozError.groupNotCreated(group)
            default: throw unexpected(reply, to: "the deletion of group \(group)")
            }
        }
        throw contended("group \(group)")
    }

    public func groups() async throws -> [GroupID] {
        let reply = try await client.send(MemcachedRequest.get(MemcachedKeys.groupList, cas: false))
        switch reply.status {
        case .miss: return []
        case .value: return try MemcachedGroupList.decode(reply.value ?? [], flags: reply.clientFlags)
        default: throw unexpected(reply, to: "a read of the group list")
        }
    }

    /// The liveness key goes first, in the same write as the read: a member that is in the
    /// map without it would be pruned by the next Python `get_members`.
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        rememberBeating(member)
        let replies = try await client.send([beatRequest(member), readRequest(group)])
        guard replies.count == 2 else { throw ToozError(.backendError, "\(client.target) answered a pipeline of 2 with \(replies.count) replies") }
        guard replies[0].status == .stored else { throw unexpected(replies[0], to: "the liveness beat of \(member)") }
        try await updateGroup(group, firstRead: replies[1]) { map throws(ToozError) in
            if map.contains(member) { throw ToozError.memberAlreadyJoined(member, group) }
            map.insert(member, capabilities: capabilities)
        }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        try await updateGroup(group) { map throws(ToozError) in
            guard map.remove(member) else { throw ToozError.memberNotJoined(member, group) }
        }
    }

    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        Set(try await liveGroup(group).members)
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try await liveGroup(group).membersWithCapabilities
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        guard let capabilities = try await liveGroup(group).capabilities(of: member) else {
            throw ToozError.memberNotJoined(member, group)
        }
        return capabilities
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try await updateGroup(group) { map throws(ToozError) in
            guard map.setCapabilities(capabilities, of: member) else { throw ToozError.memberNotJoined(member, group) }
        }
    }

    /// tooz's beat, pipelined with a read of each group: a group that is gone (a server
    /// restart, an eviction) or no longer lists us (pruned by a peer while our beat had
    /// lapsed) is reported missing, so the coordinator re-joins. One round trip.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        rememberBeating(member)
        let ordered = Array(groups)
        let reads = try ordered.map { group throws in try MemcachedRequest.get(MemcachedKeys.group(group), cas: false) }
        let replies = try await client.send([beatRequest(member)] + reads)
        guard replies.count == ordered.count + 1 else {
            throw ToozError(.backendError, "\(client.target) answered a pipeline of \(ordered.count + 1) with \(replies.count) replies")
        }
        guard replies[0].status == .stored else { throw unexpected(replies[0], to: "the liveness beat of \(member)") }
        var missing: Set<GroupID> = []
        for (group, reply) in zip(ordered, replies.dropFirst()) {
            switch reply.status {
            case .miss: missing.insert(group)
            case .value:
                let map = try MemcachedGroupMap.decode(reply.value ?? [], flags: reply.clientFlags, of: group)
                if map?.contains(member) != true { missing.insert(group) }
            default: throw unexpected(reply, to: "a read of group \(group)")
            }
        }
        return HeartbeatResult(missing: missing)
    }

    // MARK: Helpers

    struct GroupRead {
        var map: MemcachedGroupMap
        var cas: UInt64
    }

    func readRequest(_ group: GroupID) throws -> MemcachedRequest {
        try MemcachedRequest.get(MemcachedKeys.group(group))
    }

    /// The group's record and its CAS; `groupNotCreated` when it is missing or tooz's nil.
    func readGroup(_ group: GroupID, reply given: MemcachedResponse? = nil) async throws -> GroupRead {
        let reply: MemcachedResponse
        if let given { reply = given } else { reply = try await client.send(readRequest(group)) }
        switch reply.status {
        case .miss: throw ToozError.groupNotCreated(group)
        case .value:
            guard let map = try MemcachedGroupMap.decode(reply.value ?? [], flags: reply.clientFlags, of: group) else {
                throw ToozError.groupNotCreated(group)
            }
            guard let cas = reply.cas else { throw ToozError(.backendError, "\(client.target) returned group \(group) without its CAS") }
            return GroupRead(map: map, cas: cas)
        default: throw unexpected(reply, to: "a read of group \(group)")
        }
    }

    /// Read, change, write back if nobody wrote in between (CAS), else again. `change` throws
    /// to refuse (nothing is written then).
    func updateGroup(
        _ group: GroupID, firstRead: MemcachedResponse? = nil,
        _ change: (inout MemcachedGroupMap) throws(ToozError) -> Void
    ) async throws {
        var given = firstRead
        for _ in 0..<Self.casAttempts {
            var read = try await readGroup(group, reply: given)
            given = nil
            try change(&read.map)
            if try await write(read.map, of: group, cas: read.cas) { return }
        }
        throw contended("group \(group)")
    }

    /// Writes `map` over the record read with `cas`; `false` when someone wrote in between.
    func write(_ map: MemcachedGroupMap, of group: GroupID, cas: UInt64) async throws -> Bool {
        let key = MemcachedKeys.group(group)
        let bytes = map.encoded
        // memcached refuses an item larger than its -I; say so before writing anything.
        if bytes.count + key.utf8.count + 64 > configuration.maximumItemSize {
            throw ToozError(
                .invalidArgument,
                "group \(group) would need \(bytes.count) bytes, more than memcached's item size (\(configuration.maximumItemSize) bytes, option item_size_max); nothing was written"
            )
        }
        let reply = try await client.send(
            MemcachedRequest.set(
                key, value: bytes, clientFlags: MemcachedKeys.Flags.msgpack, ttl: 0, compareCAS: cas, returnCAS: false
            )
        )
        switch reply.status {
        case .stored: return true
        case .exists: return false
        case .notFound: throw ToozError.groupNotCreated(group)
        default: throw unexpected(reply, to: "a write of group \(group)")
        }
    }

    /// The group with the members whose liveness key is gone pruned, as tooz's `get_members`
    /// does (never the member this backend beats for); the pruned record is written back.
    /// Two round trips: the record, then every liveness key in one pipeline.
    func liveGroup(_ group: GroupID) async throws -> MemcachedGroupMap {
        for _ in 0..<Self.casAttempts {
            var read = try await readGroup(group)
            let live = try await liveMembers(of: read.map)
            if live.count == read.map.members.count { return read.map }
            read.map.filter { live.contains($0) }
            if try await write(read.map, of: group, cas: read.cas) { return read.map }
        }
        throw contended("group \(group)")
    }

    /// The members of `map` whose liveness key exists, and ours.
    func liveMembers(of map: MemcachedGroupMap) async throws -> Set<MemberID> {
        let me = beatingMember()
        let others = map.members.filter { $0 != me }
        var live: Set<MemberID> = me.map { map.contains($0) ? [$0] : [] } ?? []
        if others.isEmpty { return live }
        let probes = try others.map { member throws in
            try MemcachedRequest.get(MemcachedKeys.member(member), value: false, clientFlags: false, cas: false)
        }
        let replies = try await client.send(probes)
        guard replies.count == others.count else {
            throw ToozError(.backendError, "\(client.target) answered a pipeline of \(others.count) with \(replies.count) replies")
        }
        for (member, reply) in zip(others, replies) where reply.status != .miss {
            live.insert(member)
        }
        return live
    }

    /// tooz's group list, changed by `change` (which says whether it changed anything).
    func updateGroupList(_ change: (inout [GroupID]) -> Bool) async throws {
        let key = MemcachedKeys.groupList
        for _ in 0..<Self.casAttempts {
            let reply = try await client.send(MemcachedRequest.get(key))
            var groups: [GroupID] = []
            var cas: UInt64?
            switch reply.status {
            case .miss: break
            case .value:
                groups = try MemcachedGroupList.decode(reply.value ?? [], flags: reply.clientFlags)
                cas = reply.cas
            default: throw unexpected(reply, to: "a read of the group list")
            }
            guard change(&groups) else { return }
            let bytes = MemcachedGroupList.encode(groups)
            let write = try await client.send(
                MemcachedRequest.set(
                    key, value: bytes, clientFlags: MemcachedKeys.Flags.msgpack, ttl: 0,
                    mode: cas == nil ? .add : .set, compareCAS: cas, returnCAS: false
                )
            )
            switch write.status {
            case .stored: return
            case .exists, .notStored, .notFound: continue
            default: throw unexpected(write, to: "a write of the group list")
            }
        }
        throw contended("the group list")
    }

    func contended(_ what: String) -> ToozError {
        ToozError(.backendError, "gave up changing \(what) after \(Self.casAttempts) writes that others changed first")
    }
}
