#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// A group's `.metadata`: oslo msgpack `{'group_id': <id as bin>, 'encoded': False}`.
///
/// We write ids as tooz does for `bytes` ids (its documented contract): `group_id` as bin and
/// `encoded` false, so a Python member reads our ids back as `bytes`, like its own. Python code
/// that passes `str` ids writes `encoded: True`; files from tooz before 1.36 have no `encoded`
/// and may have bin keys or a str id. All of these are read.
enum GroupMetadataRecord {
    static func encode(_ group: GroupID) -> [UInt8] {
        OsloMsgPack.encode(.map([
            MessagePackMapEntry("group_id", .binary(Array(group.rawValue.utf8))),
            MessagePackMapEntry("encoded", false),
        ]))
    }

    /// The group id stored in `bytes`, read from `path`.
    static func decodeGroupID(_ bytes: [UInt8], path: String) throws(ToozError) -> GroupID {
        let record = MessagePackValue.map(try RecordDecoding.entries(bytes, path: path, kind: "group metadata"))
        return GroupID(try RecordDecoding.identifier(record["group_id"], field: "group_id", path: path))
    }
}

/// A member's `<sha1(m)>.raw`: oslo msgpack `{'capabilities': caps, 'joined_on': datetime,
/// 'member_id': <id as bin>, 'encoded': False}`, in that order, as tooz's `join_group` writes it.
struct MemberRecord: Sendable, Hashable {
    /// The map as stored, so a rewrite keeps every other field (and its encoding) untouched.
    var entries: [MessagePackMapEntry]
    let member: MemberID

    init(member: MemberID, capabilities: Capabilities, joinedOn: OsloDateTime) {
        self.member = member
        self.entries = [
            MessagePackMapEntry("capabilities", capabilities),
            MessagePackMapEntry("joined_on", .dateTime(joinedOn)),
            MessagePackMapEntry("member_id", .binary(Array(member.rawValue.utf8))),
            MessagePackMapEntry("encoded", false),
        ]
    }

    /// Reads a record written by us or by any tooz version; `path` is for error messages.
    init(decoding bytes: [UInt8], path: String) throws(ToozError) {
        let entries = try RecordDecoding.entries(bytes, path: path, kind: "member record")
        self.entries = entries
        self.member = MemberID(
            try RecordDecoding.identifier(MessagePackValue.map(entries)["member_id"], field: "member_id", path: path)
        )
    }

    /// tooz stores `None` when a member joined without capabilities, and so may a missing key mean.
    var capabilities: Capabilities {
        guard let index = capabilitiesIndex else { return .nil }
        return entries[index].value
    }

    var joinedOn: OsloDateTime? {
        if case .dateTime(let date) = MessagePackValue.map(entries)["joined_on"] { return date }
        return nil
    }

    mutating func replaceCapabilities(_ capabilities: Capabilities) {
        if let index = capabilitiesIndex {
            entries[index].value = capabilities
        } else {
            entries.insert(MessagePackMapEntry("capabilities", capabilities), at: 0)
        }
    }

    private var capabilitiesIndex: Int? {
        entries.firstIndex { $0.key == "capabilities" || $0.key == .binary(Array("capabilities".utf8)) }
    }

    func encoded() -> [UInt8] { OsloMsgPack.encode(.map(entries)) }
}

/// Shared checks of the two record kinds.
enum RecordDecoding {
    static func entries(_ bytes: [UInt8], path: String, kind: String) throws(ToozError) -> [MessagePackMapEntry] {
        let value: MessagePackValue
        do throws(ToozError) {
            value = try OsloMsgPack.decode(bytes)
        } catch {
            throw ToozError(.serializationFailed, "\(path) is not a valid tooz \(kind): \(error.message)", underlying: error)
        }
        guard case .map(let entries) = value else {
            throw ToozError(.serializationFailed, "\(path) is not a valid tooz \(kind): it holds no msgpack map")
        }
        return entries
    }

    /// An id stored as bin (tooz 1.36+) or str (older tooz, or `encoded` ids), as UTF-8 text.
    static func identifier(_ value: MessagePackValue?, field: String, path: String) throws(ToozError) -> String {
        switch value {
        case .string(let text):
            return text
        case .binary(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ToozError(.serializationFailed, "\(path) has a \(field) that is not UTF-8, which swift-tooz ids must be")
            }
            return text
        case nil:
            throw ToozError(.serializationFailed, "\(path) has no \(field)")
        case let other?:
            throw ToozError(.serializationFailed, "\(path) has a \(field) that is neither bytes nor text: \(other)")
        }
    }
}

extension OsloDateTime {
    /// Python's `datetime.datetime.now()`: the local wall-clock time, naive (no zone), which is
    /// what tooz writes as `joined_on`.
    static func localNow() -> OsloDateTime {
        let now = FileSystem.wallClockNow()
        var seconds = now.tv_sec
        var parts = tm()
        _ = timeZoneLoaded
        guard localtime_r(&seconds, &parts) != nil else {
            gmtime_r(&seconds, &parts)
            return OsloDateTime(parts, microsecond: Int(now.tv_nsec / 1000))
        }
        return OsloDateTime(parts, microsecond: Int(now.tv_nsec / 1000))
    }

    /// `tzset()` once, as Python's `datetime.now()` effectively does: calling it on every join
    /// would re-read the zone file each time.
    private static let timeZoneLoaded: Void = tzset()

    private init(_ parts: tm, microsecond: Int) {
        self.init(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min),
            // Python's datetime has no leap second.
            second: min(Int(parts.tm_sec), 59), microsecond: microsecond
        )
    }
}
