import Logging
import Tooz

extension ZooKeeperBackend {
    // MARK: Groups

    public func createGroup(_ group: GroupID) async throws {
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
        let client = try client()
        let data = OsloMsgPack.encode(capabilities)
        do {
            _ = try await client.create(paths.member(member, in: group), data: data, mode: .ephemeral)
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        } catch where Self.code(error) == .nodeExists {
            throw ToozError.memberAlreadyJoined(member, group)
        }
    }

    public func leave(_ group: GroupID, member: MemberID) async throws {
        let client = try client()
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
        let client = try client()
        let path = paths.group(group)
        let watcher = watches.arm(path, for: group)
        let children: [String]
        do {
            children = try await client.getChildren(path, watcher: watcher).children
        } catch {
            if watcher != nil { watches.disarm(path) }
            if Self.code(error) == .noNode {
                await watchForCreation(of: group, at: path, client)
                throw ToozError.groupNotCreated(group)
            }
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
                        return (member, try OsloMsgPack.decodeCapabilities(data, of: member, in: group))
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

    /// For a followed group found missing: an `exists` watch on its node, which fires when the
    /// group is created again (the server keeps no child watch on a missing node, so without it
    /// a deleted group's stream would hear of the re-creation only at the next poll). Best
    /// effort: if the read fails, the poll interval still re-reads the group.
    private func watchForCreation(of group: GroupID, at path: String, _ client: ZooKeeperClient) async {
        let key = ZooKeeperGroupWatches.creationKey(path)
        guard let watcher = watches.arm(key, for: group) else { return }
        do {
            if try await client.exists(path, watcher: watcher) != nil {
                // Created since the listing: read it again now, which arms its child watch.
                watches.notify(group)
            }
        } catch {
            watches.disarm(key)
        }
    }

    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        let client = try client()
        do {
            let path = paths.member(member, in: group)
            let (data, _) = try await retryingConnectionLoss { try await client.getData(path) }
            return try OsloMsgPack.decodeCapabilities(data, of: member, in: group)
        } catch where Self.code(error) == .noNode {
            throw try await missingMember(member, in: group, client)
        }
    }

    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        let client = try client()
        do {
            try await client.setData(paths.member(member, in: group), data: OsloMsgPack.encode(capabilities))
        } catch where Self.code(error) == .noNode {
            throw try await missingMember(member, in: group, client)
        }
    }

    /// Liveness is the session, which the client keeps alive by itself; a beat checks that each
    /// member node is there and owned by the current session (one `exists` per group, sent
    /// together). After a session expiry the nodes are gone, or still the old session's until
    /// the server reaps them: those groups are reported missing and the coordinator re-joins.
    /// The membership lease is the session timeout the server granted.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        let client = try client()
        guard let session = client.session else {
            throw ToozError(.connectionFailed, "the zookeeper backend has no session")
        }
        let missing = try await withThrowingTaskGroup(of: GroupID?.self) { tasks in
            for group in groups {
                tasks.addTask {
                    let owner = try await client.exists(self.paths.member(member, in: group))?.ephemeralOwner
                    return owner == session.id ? nil : group
                }
            }
            var missing: Set<GroupID> = []
            for try await group in tasks { if let group { missing.insert(group) } }
            return missing
        }
        return HeartbeatResult(missing: missing, ttl: session.timeout)
    }

    /// `getChildren` of the group: one round trip, without the capabilities (tooz: `get_members`).
    public func memberNames(of group: GroupID) async throws -> Set<MemberID> {
        let client = try client()
        let path = paths.group(group)
        do {
            let children = try await retryingConnectionLoss { try await client.getChildren(path).children }
            return Set(children.filter { $0 != ZooKeeperPaths.leaderNode }.map { MemberID($0) })
        } catch where Self.code(error) == .noNode {
            throw ToozError.groupNotCreated(group)
        }
    }

    /// Child and data watches wake the subscription; they are one-shot and re-armed by the
    /// next read of the group, so a group nobody reads any more holds no watch.
    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? {
        switch topic {
        case .group(let group): ChangeSubscription(signal: watches.signal(for: group))
        case .lock: nil
        }
    }
}
