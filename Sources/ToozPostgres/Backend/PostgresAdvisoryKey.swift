import Tooz

/// A PostgreSQL advisory lock key: the two-int4 form tooz uses, or one int8.
///
/// Values are spliced into SQL as integer literals (they are numbers we computed, never text
/// from a caller).
package enum PostgresAdvisoryKey: Sendable, Hashable {
    case pair(Int32, Int32)
    case single(Int64)

    /// tooz 9.1.0's key of a lock name: bytes 0 and 1 of its MD5, as two int4 in 0...255.
    package static func tooz(_ name: String) -> PostgresAdvisoryKey {
        let digest = MD5.hash(Array(name.utf8))
        return .pair(Int32(digest[0]), Int32(digest[1]))
    }

    /// The first 8 bytes of the MD5 of `text`, big-endian, as one int8.
    package static func bigint(_ text: String) -> PostgresAdvisoryKey {
        let digest = MD5.hash(Array(text.utf8))
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return .single(Int64(bitPattern: value))
    }

    /// The key of a lock or of a group's leadership. Leaderships always take int8 keys of
    /// their own (tooz has no leaders on PostgreSQL), kept apart from lock names by a prefix.
    package static func of(_ key: LockKey, style: PostgresLockKeyStyle) -> PostgresAdvisoryKey {
        switch key {
        case .lock(let name):
            switch style {
            case .tooz: return tooz(name.rawValue)
            case .bigint: return bigint("lock\u{1}" + name.rawValue)
            }
        case .leadership(let group):
            return bigint("leader\u{1}" + group.rawValue)
        }
    }

    /// The arguments of `pg_advisory_lock` and its siblings.
    var arguments: String {
        switch self {
        case .pair(let first, let second): "\(first)::int4, \(second)::int4"
        case .single(let key): "\(key)::int8"
        }
    }

    /// How `pg_locks` shows the key: an int8 key is split into classid (high half) and objid
    /// (low half) with objsubid 1; the two-int4 form has objsubid 2.
    var pgLocksMatch: String {
        switch self {
        case .pair(let first, let second):
            return "objsubid = 2 AND classid = \(UInt32(bitPattern: first))::oid AND objid = \(UInt32(bitPattern: second))::oid"
        case .single(let key):
            let bits = UInt64(bitPattern: key)
            return "objsubid = 1 AND classid = \(bits >> 32)::oid AND objid = \(bits & 0xFFFF_FFFF)::oid"
        }
    }
}
