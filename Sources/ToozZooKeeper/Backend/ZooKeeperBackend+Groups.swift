import Logging
import Tooz

extension ZooKeeperBackend {
    // MARK: Reserved names

    /// `locks` is the lock tree's node under the namespace; a group of that name would mix
    /// groups and locks (tooz's bug §4.2.2).
    func checkGroup(_ group: GroupID) throws(ToozError) {
        if group.rawValue == ZooKeeperPaths.locksNode || group.rawValue == "." || group.rawValue == ".." {
            throw ToozError(
                .invalidArgument,
                "group id \(group.rawValue.debugDescription) is reserved on the zookeeper backend (\"locks\" holds the named locks)"
            )
        }
    }

    /// `leader` is the leadership recipe's node inside a group (tooz's bug §4.2.1).
    func checkMember(_ member: MemberID) throws(ToozError) {
        if member.rawValue == ZooKeeperPaths.leaderNode || member.rawValue == "." || member.rawValue == ".." {
            throw ToozError(
                .invalidArgument,
                "member id \(member.rawValue.debugDescription) is reserved on the zookeeper backend (\"leader\" holds a group's leadership)"
            )
        }
    }

    // MARK: Groups

    public func createGroup(_ group: GroupID) async throws {
        try checkGroup(group)
        let client = try client()
        do {
            _ = try await client.create(paths.group(group))
        } catch where Self.code(error) == .nodeExists {
            throw ToozError.groupAlreadyExists(group)
        } catch where Self.code(error) == .noNode {
            // Someone removed the namespace node since connect: make it again.
            try await client.ensurePath(paths.base)
            do {
                _ = try await client.create(paths.group(group))
            } catch where Self.code(error) == .nodeExists {
                throw ToozError.groupAlreadyExists(group)
            }
        }
    }

    public func deleteGroup(_ group: GroupID) async throws {
        try checkGroup(group)
        let client = try client()
        let path = paths.group(group)
        do {
            try await client.delete(path)
            return
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        } catch where Self.code(error) == .notEmpty {
            // Handled below: an empty leadership recipe does not make a group non-empty.
        }
        let children: [String]
        do {
            children = try await client.getChildren(path).children
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        }
        guard children == [ZooKeeperPaths.leaderNode] else { throw ToozError.groupNotEmpty(group) }
        do {
            // One transaction: a campaign or a join in between makes it fail as a whole.
            _ = try await client.multi([.delete(path: paths.leader(of: group)), .delete(path: path)])
        } catch where Self.code(error) == .notEmpty {
            throw ToozError.groupNotEmpty(group)
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        }
    }

    public func groups() async throws -> [GroupID] {
        let client = try client()
        do {
            let base = paths.base
            let children = try await retryingConnectionLoss { try await client.getChildren(base).children }
            return children.filter { $0 != ZooKeeperPaths.locksNode }.map { GroupID($0) }
        } catch where Self.code(error) == .noNode {
            return []
        }
    }

    // MARK: Membership

    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        try checkGroup(group)
        try checkMember(member)
        let client = try client()
        let data = OsloMsgPack.encode(capabilities)
        do {
            _ = try await client.create(paths.member(member, in: group), data: data, mode: .ephemeral)
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        } catch where Self.code(error) == .nodeExists {
            throw ToozError.memberAlreadyJoined(member, group)
        }
        let session = client.session?.id
        withState { $0.memberships[MembershipKey(group: group, member: member)] = Membership(capabilities: capabilities, sessionID: session) }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        try checkGroup(group)
        try checkMember(member)
        let client = try client()
        withState { _ = $0.memberships.removeValue(forKey: MembershipKey(group: group, member: member)) }
        do {
            try await client.delete(paths.member(member, in: group))
        } catch where Self.code(error) == .noNode {
            throw try await missingMember(member, in: group, client)
        }
    }

    /// `memberNotJoined`, or `groupNotCreated` when the group itself is gone.
    func missingMember(_ member: MemberID, in group: GroupID, _ client: ZooKeeperClient) async throws -> ToozError {
        try await client.exists(paths.group(group)) == nil ? .groupNotCreated(group) : .memberNotJoined(member, group)
    }

    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try checkGroup(group)
        let client = try client()
        let path = paths.group(group)
        let watcher = watches.arm(path, for: group)
        let children: [String]
        do {
            children = try await client.getChildren(path, watcher: watcher).children
        } catch {
            if watcher != nil { watches.disarm(path) }
            if Self.code(error) == .noNode { throw ToozError.groupNotCreated(group) }
            throw error
        }
        let names = children.filter { $0 != ZooKeeperPaths.leaderNode }
        // The reads go out together over the one connection: one round trip, not one per member.
        return try await withThrowingTaskGroup(of: (MemberID, Capabilities)?.self) { tasks in
            for name in names {
                tasks.addTask {
                    let member = MemberID(name)
                    let memberPath = self.paths.member(member, in: group)
                    let dataWatcher = self.watches.arm(memberPath, for: group)
                    do {
                        let (data, _) = try await client.getData(memberPath, watcher: dataWatcher)
                        return (member, try Self.decodeCapabilities(data, of: member, in: group))
                    } catch where Self.code(error) == .noNode {
                        // Left between the listing and the read.
                        if dataWatcher != nil { self.watches.disarm(memberPath) }
                        return nil
                    } catch {
                        if dataWatcher != nil { self.watches.disarm(memberPath) }
                        throw error
                    }
                }
            }
            var members: [MemberID: Capabilities] = [:]
            for try await entry in tasks {
                if let (member, capabilities) = entry { members[member] = capabilities }
            }
            return members
        }
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        try checkGroup(group)
        try checkMember(member)
        let client = try client()
        do {
            let path = paths.member(member, in: group)
            let (data, _) = try await retryingConnectionLoss { try await client.getData(path) }
            return try Self.decodeCapabilities(data, of: member, in: group)
        } catch where Self.code(error) == .noNode {
            throw try await missingMember(member, in: group, client)
        }
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try checkGroup(group)
        try checkMember(member)
        let client = try client()
        do {
            try await client.setData(paths.member(member, in: group), data: OsloMsgPack.encode(capabilities))
        } catch where Self.code(error) == .noNode {
            throw try await missingMember(member, in: group, client)
        }
        withState { state in
            state.memberships[MembershipKey(group: group, member: member)]?.capabilities = capabilities
        }
    }

    /// Liveness is the session, which the client keeps alive by itself. After a session expiry
    /// the new session has none of our member nodes: re-create them with the capabilities last
    /// given. Otherwise one cheap read (tooz: `get(/NS)`) checks the connection.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws {
        let client = try client()
        let session = client.session?.id
        let stale = withState { state in
            groups.compactMap { group -> (GroupID, Capabilities)? in
                guard let membership = state.memberships[MembershipKey(group: group, member: member)],
                    membership.sessionID != session
                else { return nil }
                return (group, membership.capabilities)
            }
        }
        guard !stale.isEmpty else {
            _ = try await client.exists(paths.base)
            return
        }
        for (group, capabilities) in stale {
            let key = MembershipKey(group: group, member: member)
            do {
                _ = try await client.create(paths.member(member, in: group), data: OsloMsgPack.encode(capabilities), mode: .ephemeral)
                logger.debug("re-joined a group after a new ZooKeeper session", metadata: ["tooz_group_id": "\(group)"])
            } catch where Self.code(error) == .nodeExists {
                // Ours if this session owns it (another of our calls made it). The old session's
                // node goes when the server expires that session; a later heartbeat re-joins then.
                let owner = try? await client.exists(paths.member(member, in: group))?.ephemeralOwner
                guard let owner, owner == session else { continue }
            } catch where Self.code(error) == .noNode {
                // The group was deleted meanwhile: nothing to re-join.
                withState { _ = $0.memberships.removeValue(forKey: key) }
                continue
            }
            withState { $0.memberships[key]?.sessionID = session }
        }
    }

    static func decodeCapabilities(_ data: [UInt8], of member: MemberID, in group: GroupID) throws(ToozError) -> Capabilities {
        if data.isEmpty { return .nil }
        do {
            return try OsloMsgPack.decode(data)
        } catch {
            throw ToozError(
                .serializationFailed,
                "the capabilities of member \(member.rawValue.debugDescription) in group \(group.rawValue.debugDescription) are not msgpack",
                underlying: error
            )
        }
    }
}
