import NIOCore
import Tooz

extension RedisBackend {
    public func createGroup(_ group: GroupID) async throws {
        let script = RedisScripts.createGroup
        let reply = try await client.evaluate(
            script, keys: [keys.group(group), keys.groups], arguments: [group.rawValue, keys.groupChangedChannel]
        )
        if try integer(reply, from: script) == 0 { throw ToozError.groupAlreadyExists(group) }
    }

    public func deleteGroup(_ group: GroupID) async throws {
        let script = RedisScripts.deleteGroup
        let reply = try await client.evaluate(
            script,
            keys: [keys.group(group), keys.groups],
            arguments: [group.rawValue, keys.beatPrefix, keys.groupChangedChannel]
        )
        switch try integer(reply, from: script) {
        case 1: return
        case -1, -2: throw ToozError.groupNotCreated(group)
        case -3: throw ToozError.groupNotEmpty(group)
        case let code: throw ToozError(.backendError, "script \(script.name) returned \(code)")
        }
    }

    public func groups() async throws -> [GroupID] {
        let reply = try await client.request(RedisCommand("SMEMBERS", keys.groups))
        let elements: [RESPValue]
        switch reply {
        case .array(let array): elements = array ?? []
        case .set(let set): elements = set
        default: throw ToozError(.backendError, "\(client.target) answered SMEMBERS with something other than a set")
        }
        return try elements.map { element throws(ToozError) in
            guard let name = element.string else {
                throw ToozError(.backendError, "\(client.target) listed a group id that is not a string")
            }
            return GroupID(name)
        }
    }

    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        rememberBeating(member)
        // The beat goes first, in the same write: a member that is in the hash without a beat
        // would be pruned by the next Python `get_members`.
        let script = RedisScripts.join
        let (beat, reply) = try await client.evaluate(
            script, keys: [keys.group(group)],
            arguments: [
                member.rawValue, ByteBuffer(bytes: OsloMsgPack.encode(capabilities)), keys.groupChangedChannel,
                group.rawValue,
            ],
            after: [beatCommand(member)]
        )
        if let message = beat.first?.errorMessage {
            throw ToozError(.backendError, "\(client.target) refused the beat of \(member): \(message)")
        }
        switch try integer(reply, from: script) {
        case 1: return
        case -1: throw ToozError.groupNotCreated(group)
        case -2: throw ToozError.memberAlreadyJoined(member, group)
        case let code: throw ToozError(.backendError, "script \(script.name) returned \(code)")
        }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        let script = RedisScripts.leave
        let reply = try await client.evaluate(
            script, keys: [keys.group(group)], arguments: [member.rawValue, keys.groupChangedChannel, group.rawValue]
        )
        switch try integer(reply, from: script) {
        case 1: return
        case -1: throw ToozError.groupNotCreated(group)
        case -2: throw ToozError.memberNotJoined(member, group)
        case let code: throw ToozError(.backendError, "script \(script.name) returned \(code)")
        }
    }

    /// The live member ids in one script, without reading or decoding capabilities.
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        var members: Set<MemberID> = []
        for name in try await liveMembers(of: group, namesOnly: true) {
            members.insert(try memberID(name, in: group))
        }
        return members
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        let flat = try await liveMembers(of: group, namesOnly: false)
        var members: [MemberID: Capabilities] = [:]
        for index in stride(from: 0, to: flat.count, by: 2) {
            let member = try memberID(flat[index], in: group)
            members[member] = try decodeCapabilities(flat[index + 1], of: member, in: group)
        }
        return members
    }

    /// Runs the members script, which prunes members whose beat is gone (never the caller), and
    /// returns its flat reply: names, or name and capabilities pairs.
    private func liveMembers(of group: GroupID, namesOnly: Bool) async throws -> [RESPValue] {
        if notifications.hasGroupListeners { _ = await notifications.ensureSubscribed(using: client) }
        let script = RedisScripts.members
        let caller: String = beatingMember()?.rawValue ?? ""
        let reply = try await client.evaluate(
            script, keys: [keys.group(group)], arguments: [keys.beatPrefix, caller, namesOnly ? "1" : "0"]
        )
        if case .integer(-1) = reply { throw ToozError.groupNotCreated(group) }
        guard case .array(.some(let flat)) = reply, namesOnly || flat.count.isMultiple(of: 2) else {
            throw ToozError(.backendError, "\(client.target) returned an unexpected reply to script \(script.name)")
        }
        return flat
    }

    private func memberID(_ value: RESPValue, in group: GroupID) throws(ToozError) -> MemberID {
        guard let name = value.string else {
            throw ToozError(.backendError, "group \(group) has a member id that is not a string")
        }
        return MemberID(name)
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        let script = RedisScripts.capabilities
        let reply = try await client.evaluate(script, keys: [keys.group(group)], arguments: [member.rawValue])
        switch reply {
        case .integer(-1): throw ToozError.groupNotCreated(group)
        case .integer(-2): throw ToozError.memberNotJoined(member, group)
        default: return try decodeCapabilities(reply, of: member, in: group)
        }
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        let script = RedisScripts.updateCapabilities
        let reply = try await client.evaluate(
            script, keys: [keys.group(group)],
            arguments: [
                member.rawValue, ByteBuffer(bytes: OsloMsgPack.encode(capabilities)), keys.groupChangedChannel,
                group.rawValue,
            ]
        )
        switch try integer(reply, from: script) {
        case 1: return
        case -1: throw ToozError.groupNotCreated(group)
        case -2: throw ToozError.memberNotJoined(member, group)
        case let code: throw ToozError(.backendError, "script \(script.name) returned \(code)")
        }
    }

    /// tooz's beat, pipelined with an `HEXISTS` of our record in each group: a record that is
    /// gone (pruned by a Python member's `get_members` while our beat key had expired) is
    /// reported missing, so the coordinator re-joins. One round trip.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        rememberBeating(member)
        let ordered = Array(groups)
        let replies = try await client.send(
            [beatCommand(member)] + ordered.map { RedisCommand("HEXISTS", keys.group($0), member.rawValue) }
        )
        guard replies.count == ordered.count + 1, replies[0].errorMessage == nil else {
            throw ToozError(.backendError, "\(client.target) refused the heartbeat: \(replies.first?.errorMessage ?? "no reply")")
        }
        var missing: Set<GroupID> = []
        for (group, reply) in zip(ordered, replies.dropFirst()) {
            guard case .integer(let exists) = reply else {
                throw ToozError(.backendError, "\(client.target) answered HEXISTS with something other than an integer")
            }
            if exists == 0 { missing.insert(group) }
        }
        return HeartbeatResult(missing: missing)
    }

    /// Lock waiters and event streams share the subscriber connection; a lock's signal is kept
    /// only while a subscription to it lives.
    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? {
        guard await notifications.ensureSubscribed(using: client) else { return nil }
        switch topic {
        case .group(let group):
            return ChangeSubscription(signal: notifications.groupSignal(group))
        case .lock(let key):
            let lockKey = keys.lock(key)
            let signal = notifications.retainLockSignal(lockKey)
            let notifications = self.notifications
            return ChangeSubscription(signal: signal) { notifications.releaseLockSignal(lockKey) }
        }
    }

    // MARK: Helpers

    /// tooz's beat: `PSETEX NS_beats:<m> <membership TTL> "Not dead!"`.
    private func beatCommand(_ member: MemberID) -> RedisCommand {
        RedisCommand("PSETEX", keys.beat(member), milliseconds(membershipTTL), RedisKeys.beatValue)
    }

    private func decodeCapabilities(_ reply: RESPValue, of member: MemberID, in group: GroupID) throws(ToozError) -> Capabilities {
        guard case .bulkString(.some(let buffer)) = reply else {
            throw ToozError(.backendError, "the capabilities of \(member) in \(group) are not a string")
        }
        do {
            return try OsloMsgPack.decode(Array(buffer.readableBytesView))
        } catch {
            throw ToozError(
                .serializationFailed,
                "the capabilities of \(member) in \(group) are not oslo msgpack: \(error.message)"
            )
        }
    }
}
