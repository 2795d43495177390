import NIOCore
import PostgresNIO
import Tooz

extension PostgresBackend {
    public func createGroup(_ group: GroupID) async throws {
        let rows = try await run(PostgresQuery(unsafeSQL: schema.createGroup, binds: Self.binds(group.rawValue)), doing: "create a group")
        if rows.isEmpty { throw ToozError(.groupAlreadyExists, "group \(group.rawValue.debugDescription) already exists") }
    }

    /// Deletes the group and the rows of its dead members in one statement, unless a live
    /// member is in it.
    public func deleteGroup(_ group: GroupID) async throws {
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.deleteGroup, binds: Self.binds(group.rawValue, schema.channel)), doing: "delete a group"
        )
        guard let row = rows.first else { throw ToozError(.backendError, "PostgreSQL returned no row for a group deletion") }
        if try row.value(0, as: Int64.self, "whether the group existed") == 0 { throw ToozError.groupNotCreated(group) }
        if try row.value(1, as: Int64.self, "whether the group was deleted") == 0 {
            throw ToozError(.groupNotEmpty, "group \(group.rawValue.debugDescription) still has members")
        }
    }

    public func groups() async throws -> [GroupID] {
        try await run(PostgresQuery(unsafeSQL: schema.listGroups), doing: "list groups").map {
            GroupID(try $0.value(0, as: String.self, "a group name"))
        }
    }

    /// Inserts our row naming our liveness session, or takes over a row whose session is dead
    /// (ours from before a reconnection, or a killed process's under the same id).
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        let session = try await livenessSession()
        let value = ByteBuffer(bytes: OsloMsgPack.encode(capabilities))
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.join, binds: Self.binds(group.rawValue, member.rawValue, value, session.sessionKey, schema.channel)),
            doing: "join a group"
        )
        guard let row = rows.first else { throw ToozError(.backendError, "PostgreSQL returned no row for a join") }
        if try row.value(0, as: Int64.self, "whether the group exists") == 0 { throw ToozError.groupNotCreated(group) }
        if try row.value(1, as: Int64.self, "whether the member joined") == 0 {
            throw ToozError(
                .memberAlreadyJoined, "member \(member.rawValue.debugDescription) has already joined group \(group.rawValue.debugDescription)"
            )
        }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.leave, binds: Self.binds(group.rawValue, member.rawValue, schema.channel)), doing: "leave a group"
        )
        guard let row = rows.first else { throw ToozError(.backendError, "PostgreSQL returned no row for a leave") }
        if try row.value(0, as: Bool.self, "whether the group exists") == false { throw ToozError.groupNotCreated(group) }
        if try row.value(1, as: Int64.self, "whether the member left") == 0 { throw ToozError.memberNotJoined(member, group) }
    }

    /// The live members' ids in one statement, without their capabilities.
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        try? await listener.ensureListening()
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.members(withCapabilities: false), binds: Self.binds(group.rawValue)), doing: "list members"
        )
        guard try rows.first?.value(0, as: Bool.self, "whether the group exists") == true else { throw ToozError.groupNotCreated(group) }
        var names: Set<MemberID> = []
        for row in rows {
            if let name = try row.value(1, as: String?.self, "a member id") { names.insert(MemberID(name)) }
        }
        return names
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try? await listener.ensureListening()
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.members(withCapabilities: true), binds: Self.binds(group.rawValue)), doing: "list members"
        )
        guard try rows.first?.value(0, as: Bool.self, "whether the group exists") == true else { throw ToozError.groupNotCreated(group) }
        var members: [MemberID: Capabilities] = [:]
        for row in rows {
            guard let name = try row.value(1, as: String?.self, "a member id") else { continue }
            let member = MemberID(name)
            members[member] = try OsloMsgPack.decodeCapabilities(Array(try row.value(2, as: ByteBuffer.self, "capabilities").readableBytesView), of: member, in: group)
        }
        return members
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.capabilities, binds: Self.binds(group.rawValue, member.rawValue)), doing: "read capabilities"
        )
        guard let row = rows.first else { throw ToozError(.backendError, "PostgreSQL returned no row for capabilities") }
        if try row.value(0, as: Bool.self, "whether the group exists") == false { throw ToozError.groupNotCreated(group) }
        guard let value = try row.value(1, as: ByteBuffer?.self, "capabilities") else { throw ToozError.memberNotJoined(member, group) }
        return try OsloMsgPack.decodeCapabilities(Array(value.readableBytesView), of: member, in: group)
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        let value = ByteBuffer(bytes: OsloMsgPack.encode(capabilities))
        let rows = try await run(
            PostgresQuery(unsafeSQL: schema.updateCapabilities, binds: Self.binds(group.rawValue, member.rawValue, value, schema.channel)),
            doing: "update capabilities"
        )
        guard let row = rows.first else { throw ToozError(.backendError, "PostgreSQL returned no row for an update") }
        if try row.value(0, as: Bool.self, "whether the group exists") == false { throw ToozError.groupNotCreated(group) }
        if try row.value(1, as: Int64.self, "whether the row was updated") == 0 { throw ToozError.memberNotJoined(member, group) }
    }

    /// Reads, on the liveness connection (which keeps it from idling out), the groups whose
    /// row is ours on this session. A group missing from the answer lost our row (a new session
    /// after the last one ended, a deleted group): the coordinator re-joins it.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        let session = try await livenessSession()
        let names = groups.map(\.rawValue)
        let rows = try await session.connection.rows(
            PostgresQuery(unsafeSQL: schema.heartbeat, binds: Self.binds(member.rawValue, session.sessionKey, names)),
            timeout: statementTimeout, doing: "heartbeat", logger: logger, onCancel: .abandonStatement
        )
        let present = Set(try rows.map { GroupID(try $0.value(0, as: String.self, "a group name")) })
        return HeartbeatResult(missing: groups.subtracting(present))
    }

    // MARK: Helpers
}
