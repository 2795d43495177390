import Tooz

/// Where tooz's etcd3gw driver keeps things, byte for byte, and where we keep what it has not:
///
/// | key | value | lease |
/// |---|---|---|
/// | `tooz/groups/<g>/` | the key's own bytes (a placeholder) | none |
/// | `tooz/groups/<g>/<m>` | msgpack capabilities | the member's session lease |
/// | `/tooz/locks<name>` | the holder's member id (Python writes 16 random bytes) | the holder's session lease |
/// | `/tooz/leaders/<g>` | the leader's member id | the leader's session lease |
///
/// Leaders live outside `tooz/groups/`, so Python's `get_groups` never lists them.
package struct EtcdKeys: Sendable {
    static let groupsPrefix: [UInt8] = Array("tooz/groups/".utf8)

    package static func group(_ group: GroupID) -> [UInt8] {
        groupsPrefix + Array(group.rawValue.utf8) + [UInt8(ascii: "/")]
    }

    package static func member(_ member: MemberID, of group: GroupID) -> [UInt8] {
        self.group(group) + Array(member.rawValue.utf8)
    }

    package static func lock(_ key: LockKey) -> [UInt8] {
        switch key {
        case .lock(let name): Array("/tooz/locks".utf8) + Array(name.rawValue.utf8)
        case .leadership(let group): Array("/tooz/leaders/".utf8) + Array(group.rawValue.utf8)
        }
    }

    /// The end of the range of every key that starts with `prefix` (etcd's prefix range end:
    /// the prefix with its last byte below 0xff incremented, the rest dropped).
    package static func rangeEnd(ofPrefix prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        // Every byte was 0xff: to the end of the keyspace.
        return [0]
    }

    /// A group's member keys: everything after the placeholder that starts with its prefix.
    package static func memberRange(of group: GroupID) -> (key: [UInt8], rangeEnd: [UInt8]) {
        let placeholder = self.group(group)
        return (placeholder + [0], rangeEnd(ofPrefix: placeholder))
    }
}
