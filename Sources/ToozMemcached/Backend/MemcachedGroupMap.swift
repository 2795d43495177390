import Tooz

/// A group's record in tooz's layout: a msgpack map from member id (bin) to
/// `{b"capabilities": capabilities}`, stored with flags 2. An empty group is `{}`; tooz's
/// `delete_group` sets the record to msgpack nil just before deleting it.
///
/// Entries keep their order and anything else a peer stored in them, so a read-modify-write
/// changes only the member it is about.
struct MemcachedGroupMap: Sendable, Hashable {
    private(set) var entries: [MessagePackMapEntry]

    static let capabilitiesKey = MessagePackValue.binary(Array("capabilities".utf8))

    init(entries: [MessagePackMapEntry] = []) {
        self.entries = entries
    }

    /// The map in `bytes`, or `nil` when the record is tooz's nil (a group being deleted).
    /// - Throws: `serializationFailed` for flags other than msgpack's, or bytes that are not a
    ///   msgpack map of member records.
    static func decode(_ bytes: [UInt8], flags: UInt32?, of group: GroupID) throws(ToozError) -> MemcachedGroupMap? {
        guard flags == nil || flags == MemcachedKeys.Flags.msgpack else {
            throw ToozError(
                .serializationFailed,
                "the record of group \(group.rawValue.debugDescription) has flags \(flags!), not msgpack's 2"
            )
        }
        let value: MessagePackValue
        do {
            value = try OsloMsgPack.decode(bytes)
        } catch {
            throw ToozError(.serializationFailed, "the record of group \(group.rawValue.debugDescription) is not msgpack: \(error.message)")
        }
        switch value {
        case .nil: return nil
        case .map(let entries):
            for entry in entries where memberID(of: entry.key) == nil {
                throw ToozError(
                    .serializationFailed,
                    "the record of group \(group.rawValue.debugDescription) has a member id that is not UTF-8 text"
                )
            }
            return MemcachedGroupMap(entries: entries)
        default:
            throw ToozError(.serializationFailed, "the record of group \(group.rawValue.debugDescription) is not a msgpack map")
        }
    }

    var encoded: [UInt8] { OsloMsgPack.encode(.map(entries)) }

    var isEmpty: Bool { entries.isEmpty }

    var members: [MemberID] { entries.compactMap { Self.memberID(of: $0.key) } }

    func contains(_ member: MemberID) -> Bool { index(of: member) != nil }

    /// The member's capabilities; `.nil` when its record has none.
    func capabilities(of member: MemberID) -> Capabilities? {
        guard let index = index(of: member) else { return nil }
        return Self.capabilities(in: entries[index].value)
    }

    var membersWithCapabilities: [MemberID: Capabilities] {
        var result: [MemberID: Capabilities] = [:]
        for entry in entries {
            guard let member = Self.memberID(of: entry.key) else { continue }
            result[member] = Self.capabilities(in: entry.value)
        }
        return result
    }

    /// Adds `member`; tooz writes its id as bin and its record as `{b"capabilities": caps}`.
    mutating func insert(_ member: MemberID, capabilities: Capabilities) {
        entries.append(
            MessagePackMapEntry(
                .binary(Array(member.rawValue.utf8)), .map([MessagePackMapEntry(Self.capabilitiesKey, capabilities)])
            )
        )
    }

    /// Replaces the capabilities in `member`'s record, keeping the rest of it. `false` when
    /// the member is not in the map.
    mutating func setCapabilities(_ capabilities: Capabilities, of member: MemberID) -> Bool {
        guard let index = index(of: member) else { return false }
        var record: [MessagePackMapEntry] = []
        if case .map(let existing) = entries[index].value { record = existing }
        if let field = record.firstIndex(where: { Self.isCapabilitiesKey($0.key) }) {
            record[field].value = capabilities
        } else {
            record.append(MessagePackMapEntry(Self.capabilitiesKey, capabilities))
        }
        entries[index].value = .map(record)
        return true
    }

    /// Removes `member`; `false` when it was not there.
    mutating func remove(_ member: MemberID) -> Bool {
        guard let index = index(of: member) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Keeps the members `keep` accepts.
    mutating func filter(_ keep: (MemberID) -> Bool) {
        entries.removeAll { entry in Self.memberID(of: entry.key).map { !keep($0) } ?? false }
    }

    private func index(of member: MemberID) -> Int? {
        entries.firstIndex { Self.memberID(of: $0.key) == member }
    }

    private static func memberID(of key: MessagePackValue) -> MemberID? {
        switch key {
        case .binary(let bytes): String(validating: bytes, as: UTF8.self).map { MemberID($0) }
        case .string(let text): MemberID(text)
        default: nil
        }
    }

    private static func isCapabilitiesKey(_ key: MessagePackValue) -> Bool {
        key == capabilitiesKey || key == .string("capabilities")
    }

    private static func capabilities(in record: MessagePackValue) -> Capabilities {
        guard case .map(let fields) = record else { return .nil }
        return fields.first(where: { isCapabilitiesKey($0.key) })?.value ?? .nil
    }
}

/// tooz's list of groups: a msgpack array of group ids (bin), flags 2.
enum MemcachedGroupList {
    static func decode(_ bytes: [UInt8], flags: UInt32?) throws(ToozError) -> [GroupID] {
        guard flags == nil || flags == MemcachedKeys.Flags.msgpack else {
            throw ToozError(.serializationFailed, "the group list has flags \(flags!), not msgpack's 2")
        }
        let value: MessagePackValue
        do {
            value = try OsloMsgPack.decode(bytes)
        } catch {
            throw ToozError(.serializationFailed, "the group list is not msgpack: \(error.message)")
        }
        guard case .array(let elements) = value else {
            if value == .nil { return [] }
            throw ToozError(.serializationFailed, "the group list is not a msgpack array")
        }
        return try elements.map { element throws(ToozError) in
            switch element {
            case .binary(let bytes):
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw ToozError(.serializationFailed, "the group list holds a group id that is not UTF-8 text")
                }
                return GroupID(text)
            case .string(let text): return GroupID(text)
            default: throw ToozError(.serializationFailed, "the group list holds something that is not a group id")
            }
        }
    }

    static func encode(_ groups: [GroupID]) -> [UInt8] {
        OsloMsgPack.encode(.array(groups.map { .binary(Array($0.rawValue.utf8)) }))
    }
}
