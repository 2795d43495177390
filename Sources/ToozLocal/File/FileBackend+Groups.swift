#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

extension FileBackend {
    // MARK: Groups

    /// tooz: `create_group`. Unlike tooz, an existing group's `.metadata` is left untouched.
    public func createGroup(_ group: GroupID) async throws {
        try await withDriverLock { () throws(ToozError) in
            if try FileSystem.status(metadataPath(group)) != nil { throw .groupAlreadyExists(group) }
            try FileSystem.makeDirectory(layout.groups)
            try FileSystem.makeDirectory(groupDirectory(group))
            try FileSystem.writeAtomically(
                GroupMetadataRecord.encode(group), to: metadataPath(group), temporaryDirectory: layout.temporary
            )
        }
    }

    /// tooz: `delete_group`. Records of dead members (older than the membership TTL) do not keep
    /// a group alive: they are removed with it, where tooz would refuse forever.
    public func deleteGroup(_ group: GroupID) async throws {
        try await withDriverLock { () throws(ToozError) in
            let directory = groupDirectory(group)
            guard try FileSystem.status(metadataPath(group)) != nil else { throw .groupNotCreated(group) }
            let now = FileSystem.wallClockNow()
            var stale: [String] = []
            for name in try FileSystem.list(directory) ?? [] where name != ".metadata" {
                let path = directory + "/" + name
                guard name.hasSuffix(".raw") else {
                    throw ToozError(
                        .backendError,
                        "unexpected file \(path) in the directory of group \(group.rawValue.debugDescription); only .metadata and member .raw files belong there"
                    )
                }
                guard let status = try FileSystem.status(path) else { continue }
                if isLive(status, now: now) { throw .groupNotEmpty(group) }
                stale.append(path)
            }
            for path in stale { _ = try FileSystem.unlinkIfExists(path) }
            _ = try FileSystem.unlinkIfExists(metadataPath(group))
            guard rmdir(directory) == 0 else {
                if errno == ENOTEMPTY || errno == EEXIST { throw .groupNotEmpty(group) }
                throw FileSystem.failure("remove the directory", directory, call: "rmdir")
            }
        }
    }

    /// tooz: `get_groups`: every `groups/*/.metadata`.
    public func groups() async throws -> [GroupID] {
        var groups: [GroupID] = []
        for name in try FileSystem.list(layout.groups) ?? [] {
            let path = layout.groups + "/" + name + "/.metadata"
            // A group being created or deleted right now may have no metadata: skip it, as tooz does.
            guard let bytes = try FileSystem.read(path) else { continue }
            groups.append(try GroupMetadataRecord.decodeGroupID(bytes, path: path))
        }
        return groups
    }

    // MARK: Membership

    /// tooz: `join_group`. A record left by a dead earlier incarnation of `member` (older than
    /// the membership TTL) is replaced; a live one fails with `memberAlreadyJoined`.
    public func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
        try await withDriverLock { () throws(ToozError) in
            guard try FileSystem.status(metadataPath(group)) != nil else { throw .groupNotCreated(group) }
            let path = memberPath(member, in: group)
            if let status = try FileSystem.status(path), isLive(status, now: FileSystem.wallClockNow()) {
                throw .memberAlreadyJoined(member, group)
            }
            let bytes = MemberRecord(member: member, capabilities: capabilities, joinedOn: .localNow()).encoded()
            if let spare = spareRecords.take(), FileSystem.writeAtomically(bytes, to: path, reusing: spare) { return }
            try FileSystem.writeAtomically(bytes, to: path, temporaryDirectory: layout.temporary)
        }
    }

    /// tooz: `leave_group`. Removes our record even when it has gone stale.
    public func leave(_ group: GroupID, member: MemberID) async throws {
        try await withDriverLock { () throws(ToozError) in
            guard try FileSystem.status(metadataPath(group)) != nil else { throw .groupNotCreated(group) }
            let path = memberPath(member, in: group)
            // Moved aside for the next join rather than removed (see SpareRecordFiles).
            if spareRecords.hasRoom {
                let spare = FileSystem.temporaryName(in: layout.temporary)
                if rename(path, spare) == 0 {
                    if !spareRecords.keep(spare) { _ = unlink(spare) }
                    return
                }
            }
            guard try FileSystem.unlinkIfExists(path) else { throw .memberNotJoined(member, group) }
        }
    }

    /// tooz: `get_members_with_capabilities`: the members whose records are fresher than the
    /// membership TTL. Stale records are skipped, not removed (a paused member may come back).
    public func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
        try await withDriverLock { () throws(ToozError) in
            guard try FileSystem.status(metadataPath(group)) != nil else { throw .groupNotCreated(group) }
            let directory = groupDirectory(group)
            let now = FileSystem.wallClockNow()
            var members: [MemberID: Capabilities] = [:]
            for name in try FileSystem.list(directory) ?? [] where name.hasSuffix(".raw") {
                let path = directory + "/" + name
                guard let status = try FileSystem.status(path), isLive(status, now: now),
                    let bytes = try FileSystem.read(path)
                else { continue }
                let record = try MemberRecord(decoding: bytes, path: path)
                members[record.member] = record.capabilities
            }
            return members
        }
    }

    /// tooz: `get_member_capabilities`. Unlike tooz, a dead member (stale record) is not joined.
    public func capabilities(of member: MemberID, in group: GroupID) async throws -> Capabilities {
        try await withDriverLock { () throws(ToozError) in try liveRecord(of: member, in: group).record.capabilities }
    }

    /// Not in tooz's file driver: rewrites our record atomically with the new capabilities,
    /// keeping `joined_on` and every other field as stored.
    public func updateCapabilities(_ capabilities: Capabilities, of member: MemberID, in group: GroupID) async throws {
        try await withDriverLock { () throws(ToozError) in
            var (record, path) = try liveRecord(of: member, in: group)
            record.replaceCapabilities(capabilities)
            try FileSystem.writeAtomically(record.encoded(), to: path, temporaryDirectory: layout.temporary)
        }
    }

    /// tooz: `heartbeat`: sets the modification time of our record in each group to now.
    /// A record that has gone (the group was deleted, we were removed) is reported missing.
    public func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
        try await withDriverLock { () throws(ToozError) in
            var missing: Set<GroupID> = []
            for group in groups where try !FileSystem.touch(memberPath(member, in: group)) {
                missing.insert(group)
            }
            return HeartbeatResult(missing: missing)
        }
    }

    // MARK: Helpers

    /// `DIR/groups/<sha1(group)>` (``FileLayout/groupDirectory(_:)``, with the hash remembered).
    func groupDirectory(_ group: GroupID) -> String { layout.groups + "/" + safeNames.name(for: group.rawValue) }
    func metadataPath(_ group: GroupID) -> String { groupDirectory(group) + "/.metadata" }
    func memberPath(_ member: MemberID, in group: GroupID) -> String {
        groupDirectory(group) + "/" + safeNames.name(for: member.rawValue) + ".raw"
    }

    /// Whether a member record modified at `status`'s time is alive at `now`. A time in the
    /// future (a record written an instant ago on a coarse clock) counts as alive.
    func isLive(_ status: stat, now: timespec) -> Bool {
        FileSystem.duration(now) - FileSystem.duration(status.modificationTime) <= membershipTTL
    }

    private func liveRecord(of member: MemberID, in group: GroupID) throws(ToozError) -> (record: MemberRecord, path: String) {
        guard try FileSystem.status(metadataPath(group)) != nil else { throw .groupNotCreated(group) }
        let path = memberPath(member, in: group)
        guard let status = try FileSystem.status(path), isLive(status, now: FileSystem.wallClockNow()),
            let bytes = try FileSystem.read(path)
        else { throw .memberNotJoined(member, group) }
        return (try MemberRecord(decoding: bytes, path: path), path)
    }
}
