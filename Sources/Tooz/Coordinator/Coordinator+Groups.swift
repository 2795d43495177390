import Synchronization
import Logging
extension Coordinator {
    /// Creates a group. tooz: `create_group`.
    ///
    /// - Throws: `groupAlreadyExists`, `invalidArgument` for a bad id, `notImplemented`.
    public func createGroup(_ group: GroupID) async throws {
        try check(group, feature: .groups, "groups")
        try await call("create group \(group.rawValue.debugDescription)") { try await $0.createGroup(group) }
    }

    /// Creates a group unless it exists already. Returns whether this call created it.
    @discardableResult
    public func createGroupIfNeeded(_ group: GroupID) async throws -> Bool {
        do {
            try await createGroup(group)
            return true
        } catch let error as ToozError where error.code == .groupAlreadyExists {
            return false
        }
    }

    /// Deletes an empty group. tooz: `delete_group`.
    ///
    /// - Throws: `groupNotCreated`, `groupNotEmpty`.
    public func deleteGroup(_ group: GroupID) async throws {
        try check(group, feature: .groups, "groups")
        try await call("delete group \(group.rawValue.debugDescription)") { try await $0.deleteGroup(group) }
    }

    /// Every group. tooz: `get_groups`.
    public func groups() async throws -> Set<GroupID> {
        try requireFeature(.groups, "groups")
        return Set(try await call("list groups") { try await $0.groups() })
    }

    /// Joins `group`, publishing `capabilities`; the membership is kept alive by ``run()`` and
    /// left on shutdown. tooz: `join_group`.
    ///
    /// - Throws: `groupNotCreated`, `memberAlreadyJoined`, `invalidArgument` for oversized
    ///   capabilities.
    public func join(_ group: GroupID, capabilities: Capabilities = .nil) async throws {
        try check(group, feature: .membership, "group membership")
        try checkSize(of: capabilities)
        let sentAt = clock.now()
        try await call("join group \(group.rawValue.debugDescription)") {
            try await $0.join(group, member: self.member, capabilities: capabilities)
        }
        noteJoined(group, capabilities: capabilities, sentAt: sentAt)
    }

    /// Joins `group`, creating it first when needed. tooz: `join_group_create`.
    public func joinCreatingGroup(_ group: GroupID, capabilities: Capabilities = .nil) async throws {
        while true {
            do {
                try await join(group, capabilities: capabilities)
                return
            } catch let error as ToozError where error.code == .groupNotCreated {
                try await createGroupIfNeeded(group)
            }
        }
    }

    /// Leaves `group`. tooz: `leave_group`.
    ///
    /// - Throws: `memberNotJoined` or `groupNotCreated`.
    public func leave(_ group: GroupID) async throws {
        try check(group, feature: .membership, "group membership")
        // Forgotten before the record is deleted, and in turn with a re-join: a heartbeat that
        // finds the record gone meanwhile must not join again.
        try await membershipGate.withGate(group) {
            noteLeft(group)
            try await call("leave group \(group.rawValue.debugDescription)") {
                try await $0.leave(group, member: self.member)
            }
        }
    }

    /// The live members of `group`. tooz: `get_members`.
    ///
    /// - Throws: `groupNotCreated`.
    public func members(of group: GroupID) async throws -> Set<MemberID> {
        try check(group, feature: .membership, "group membership")
        return try await call("list the members of \(group.rawValue.debugDescription)") {
            try await $0.memberNames(of: group)
        }
    }

    /// The live members of `group` with their capabilities. tooz: `get_members_with_capabilities`.
    ///
    /// - Throws: `groupNotCreated`.
    public func membersWithCapabilities(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try check(group, feature: .membership, "group membership")
        return try await call("list the members of \(group.rawValue.debugDescription)") {
            try await $0.members(of: group)
        }
    }

    /// The capabilities `member` published in `group`. tooz: `get_member_capabilities`.
    ///
    /// - Throws: `memberNotJoined` or `groupNotCreated`.
    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        try check(group, feature: .membership, "group membership")
        try info.nameRules.validate(member.rawValue, as: .member)
        return try await call("read the capabilities of \(member.rawValue.debugDescription)") {
            try await $0.capabilities(of: member, in: group)
        }
    }

    /// Replaces this member's capabilities in `group`. tooz: `update_capabilities`.
    ///
    /// - Throws: `groupNotCreated`, `memberNotJoined`, `notImplemented`.
    public func updateCapabilities(_ capabilities: Capabilities, in group: GroupID) async throws {
        try check(group, feature: .updateCapabilities, "updating capabilities")
        try checkSize(of: capabilities)
        try await call("update capabilities in \(group.rawValue.debugDescription)") {
            try await $0.updateCapabilities(capabilities, of: self.member, in: group)
        }
        membership(in: group)?.publish(capabilities)
    }

    /// The groups this coordinator has joined and not left.
    public var joinedGroups: Set<GroupID> { state.withLock { Set($0.memberships.keys) } }

    // MARK: Helpers

    package func check(_ group: GroupID, feature: BackendFeatures, _ name: String) throws(ToozError) {
        try requireFeature(feature, name)
        try info.nameRules.validate(group.rawValue, as: .group)
    }

    private func checkSize(of capabilities: Capabilities) throws(ToozError) {
        let size = OsloMsgPack.encode(capabilities).count
        guard size <= info.maximumCapabilitiesSize else {
            throw ToozError(
                .invalidArgument,
                "capabilities are \(size) bytes encoded; the \(info.name) backend accepts at most \(info.maximumCapabilitiesSize)"
            )
        }
    }

    /// Waits for `run()`, calls the backend, and wraps foreign errors.
    /// Runs on the backend's executor (see ``Coordinator/taskExecutor``).
    package func call<T>(
        _ what: @autoclosure () -> String, _ operation: (any CoordinationBackend) async throws -> T
    ) async throws -> T {
        try await withTaskExecutorPreference(backend.taskExecutor) {
            try await waitUntilRunning()
            do {
                return try await operation(backend)
            } catch {
                // Described only on failure: building the text costs more than a local call.
                throw ToozError.wrap(error, "could not \(what()) on the \(info.name) backend")
            }
        }
    }
}
