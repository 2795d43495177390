import Tooz

extension MySQLBackend {
    public func createGroup(_ group: GroupID) async throws {
        let results = try await run(schema.createGroup(group.rawValue), doing: "create a group")
        if try Self.affectedRows(results, 0, "a group creation") == 0 {
            throw ToozError(.groupAlreadyExists, "group \(group.rawValue.debugDescription) already exists")
        }
    }

    /// Deletes the group, unless a live member is in it, and then its dead members' rows.
    public func deleteGroup(_ group: GroupID) async throws {
        let results = try await run(schema.deleteGroup(group.rawValue), doing: "delete a group")
        if try Self.firstInteger(results, "whether the group existed") == 0 { throw ToozError.groupNotCreated(group) }
        if try Self.affectedRows(results, 0, "a group deletion") == 0 {
            throw ToozError(.groupNotEmpty, "group \(group.rawValue.debugDescription) still has members")
        }
    }

    public func groups() async throws -> [GroupID] {
        let results = try await run(schema.listGroups, doing: "list groups")
        return try (Self.resultSets(results).last?.rows ?? []).map { row throws(ToozError) in
            GroupID(try Self.text(row, 0, "a group name"))
        }
    }

    /// Inserts our row naming our liveness session, or takes over a row whose session is dead
    /// (ours from before a reconnection, or a killed process's under the same id).
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        let session = try await livenessSession()
        let results = try await run(
            schema.join(group.rawValue, member: member.rawValue, capabilities: OsloMsgPack.encode(capabilities), sessionKey: session.sessionKey),
            doing: "join a group"
        )
        if try Self.affectedRows(results, 0, "a join") > 0 { return }
        if try Self.firstInteger(results, "whether the group exists") == 0 { throw ToozError.groupNotCreated(group) }
        throw ToozError(
            .memberAlreadyJoined, "member \(member.rawValue.debugDescription) has already joined group \(group.rawValue.debugDescription)"
        )
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        let results = try await run(schema.leave(group.rawValue, member: member.rawValue), doing: "leave a group")
        if try Self.firstInteger(results, "whether the group exists") == 0 { throw ToozError.groupNotCreated(group) }
        if try Self.affectedRows(results, 0, "a leave") == 0 { throw ToozError.memberNotJoined(member, group) }
    }

    /// The live members' ids in one statement, without their capabilities.
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        let rows = try await memberRows(of: group, withCapabilities: false)
        var names: Set<MemberID> = []
        for row in rows {
            if let name = row.string(1) { names.insert(MemberID(name)) }
        }
        return names
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        let rows = try await memberRows(of: group, withCapabilities: true)
        var members: [MemberID: Capabilities] = [:]
        for row in rows {
            guard let name = row.string(1) else { continue }
            let member = MemberID(name)
            members[member] = try OsloMsgPack.decodeCapabilities(row.bytes(2) ?? [], of: member, in: group)
        }
        return members
    }

    private func memberRows(of group: GroupID, withCapabilities: Bool) async throws -> [MySQLRow] {
        let results = try await run(schema.members(of: group.rawValue, withCapabilities: withCapabilities), doing: "list members")
        let rows = Self.resultSets(results).last?.rows ?? []
        guard let first = rows.first, try first.int64(0, "whether the group exists") == 1 else { throw ToozError.groupNotCreated(group) }
        return rows
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        let results = try await run(schema.capabilities(of: member.rawValue, in: group.rawValue), doing: "read capabilities")
        guard let row = Self.resultSets(results).last?.rows.first else {
            throw ToozError(.backendError, "MySQL answered no row for capabilities")
        }
        if try row.int64(0, "whether the group exists") == 0 { throw ToozError.groupNotCreated(group) }
        guard let value = row.bytes(1) else { throw ToozError.memberNotJoined(member, group) }
        return try OsloMsgPack.decodeCapabilities(value, of: member, in: group)
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        let results = try await run(
            schema.updateCapabilities(OsloMsgPack.encode(capabilities), of: member.rawValue, in: group.rawValue), doing: "update capabilities"
        )
        guard let row = Self.resultSets(results).last?.rows.first else {
            throw ToozError(.backendError, "MySQL answered no row for an update of capabilities")
        }
        if try row.int64(0, "whether the group exists") == 0 { throw ToozError.groupNotCreated(group) }
        if try row.int64(1, "whether the member is there") == 0 { throw ToozError.memberNotJoined(member, group) }
    }

    /// Reads, on the liveness connection (which keeps it from idling out), the groups whose
    /// row is ours on this session. A group missing from the answer lost our row (a new session
    /// after the last one ended, a deleted group): the coordinator re-joins it.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        let session = try await livenessSession()
        guard !groups.isEmpty else {
            try await session.connection.ping(timeout: statementTimeout)
            return .alive
        }
        let results = try await session.connection.query(
            schema.heartbeat(member: member.rawValue, sessionKey: session.sessionKey, groups: groups.map(\.rawValue)),
            timeout: statementTimeout, doing: "heartbeat", onCancel: .abandonStatement
        )
        var present: Set<GroupID> = []
        for row in Self.resultSets(results).last?.rows ?? [] {
            present.insert(GroupID(try Self.text(row, 0, "a group name")))
        }
        return HeartbeatResult(missing: groups.subtracting(present))
    }

    /// A cell that must be text.
    static func text(_ row: MySQLRow, _ index: Int, _ what: String) throws(ToozError) -> String {
        guard let value = row.string(index) else { throw ToozError(.backendError, "MySQL answered NULL for \(what)") }
        return value
    }
}
