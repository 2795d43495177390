import Tooz

/// The key layout: tooz 9.1.0's keys, so that Python members see ours and we see theirs, plus
/// the fencing counters, which only swift-tooz reads.
///
/// | key | tooz | flags | value | expiry |
/// |---|---|---|---|---|
/// | `_TOOZ_GROUP_<g>` | yes | 2 | msgpack map: member id (bin) → `{b"capabilities": caps}` | none |
/// | `_TOOZ_GROUP_LIST` | yes | 2 | msgpack array of group ids (bin) | none |
/// | `_TOOZ_MEMBER_<m>` | yes | 1 | `It's alive!` | membership TTL |
/// | `__TOOZ_LOCK_<name>` | yes | 1 | the holder's member id | lock TTL |
/// | `__TOOZ_LOCK__TOOZ_GROUP_LEADER_<g>` | yes | 1 | the leader's member id | leader TTL |
/// | `_TOOZ_FENCE_<lock key>` | no | 0 | a decimal counter, incremented by each acquisition | none |
///
/// Flags are pymemcache's serializer's: 1 for raw bytes, 2 for msgpack.
struct MemcachedKeys: Sendable {
    static let groupPrefix = "_TOOZ_GROUP_"
    static let groupList = "_TOOZ_GROUP_LIST"
    static let memberPrefix = "_TOOZ_MEMBER_"
    static let lockPrefix = "__TOOZ_LOCK_"
    static let leaderPrefix = "_TOOZ_GROUP_LEADER_"
    static let fencePrefix = "_TOOZ_FENCE_"
    /// What tooz writes into a member's liveness key.
    static let aliveValue: [UInt8] = Array("It's alive!".utf8)
    /// memcached's longest key, in bytes.
    static let longestKey = 250
    /// The longest name of any kind: the longest key built from a name is a leadership's
    /// fencing counter, `_TOOZ_FENCE___TOOZ_LOCK__TOOZ_GROUP_LEADER_<g>` (43 bytes of prefix).
    static let longestName = 200

    /// pymemcache's serializer flags.
    enum Flags {
        static let bytes: UInt32 = 1
        static let msgpack: UInt32 = 2
    }

    static func group(_ group: GroupID) -> String { groupPrefix + group.rawValue }
    static func member(_ member: MemberID) -> String { memberPrefix + member.rawValue }

    static func lock(_ key: LockKey) -> String {
        switch key {
        case .lock(let name): lockPrefix + name.rawValue
        case .leadership(let group): lockPrefix + leaderPrefix + group.rawValue
        }
    }

    static func fence(_ key: LockKey) -> String { fencePrefix + lock(key) }
}
