import Tooz

/// Where tooz 9.1's kazoo driver keeps everything (reference §2.2), under the namespace node
/// (`/tooz` by default), relative to the chroot.
///
/// | path | kind |
/// |---|---|
/// | `/NS/<g>` | persistent group |
/// | `/NS/<g>/<m>` | ephemeral member, oslo msgpack capabilities |
/// | `/NS/<g>/leader` | kazoo lock recipe of the group's leadership |
/// | `/NS/locks/<name>` | kazoo lock recipe of a named lock |
package struct ZooKeeperPaths: Sendable, Hashable {
    /// The namespace node (`/tooz`).
    package var base: String

    /// The child of a group that holds its leadership recipe, never a member.
    package static let leaderNode = "leader"
    /// The child of the namespace that holds every named lock, never a group.
    package static let locksNode = "locks"

    package init(base: String) {
        self.base = base
    }

    package var locksRoot: String { base + "/" + Self.locksNode }
    package func group(_ group: GroupID) -> String { base + "/" + group.rawValue }
    package func member(_ member: MemberID, in group: GroupID) -> String { self.group(group) + "/" + member.rawValue }
    package func leader(of group: GroupID) -> String { self.group(group) + "/" + Self.leaderNode }
    package func lock(_ name: LockName) -> String { locksRoot + "/" + name.rawValue }

    /// The recipe node of a lock or a leadership.
    package func recipe(_ key: LockKey) -> String {
        switch key {
        case .lock(let name): lock(name)
        case .leadership(let group): leader(of: group)
        }
    }

    /// The last component of `path`.
    package static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
