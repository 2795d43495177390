import Tooz

/// Which local signals a change to one Redis key concerns: the pure half of turning
/// client-tracking invalidations into wake-ups (``RedisNotifications`` does the waking).
///
/// An invalidation names a key and nothing else (not who wrote it, nor whether it was set,
/// deleted or expired), so every route is a "look again":
///
/// | key | means | wakes |
/// |---|---|---|
/// | `NS_<name>_lock` | a lock changed hands, was refreshed, or expired | waiters of that key |
/// | `NS_leader_of_<g>_lock` | the same, for the leadership of `g` | its waiters and group `g` |
/// | `NS_group:<g>` | a member joined, left, was pruned, or changed capabilities | group `g` |
/// | `NS_groups` | a group was created or deleted | every group |
/// | `NS_beats:<m>` | a member beat, or its beat expired (it died) | every group (its groups are unknown here) |
/// | `NS_fencing` | only ever written with a lock key | nothing |
///
/// Keys are free-form (a lock may be called `group:x`), so one key can take several routes;
/// waking one signal too many costs a re-read, missing one costs a poll interval.
struct RedisKeyRoute: Sendable {
    enum Target: Hashable, Sendable {
        /// The waiters of exactly this lock key (signals are kept by key, so no parsing needed).
        case lock(String)
        /// One group's watchers.
        case group(GroupID)
        /// Every group's watchers.
        case everyGroup
    }

    let keys: RedisKeys

    /// The tracking prefix: the namespace plus `_`. Lock names are free-form, so no narrower
    /// prefix covers lock keys, and the server refuses overlapping prefixes for one client.
    var trackingPrefix: String { keys.trackingPrefix }

    /// Where a change to `key` must be told; empty for keys outside the layout.
    func targets(of key: String) -> [Target] {
        let bytes = key.utf8
        guard bytes.starts(with: keys.trackingPrefix.utf8) else { return [] }
        var targets: [Target] = []
        let isLockKey = Self.hasSuffix(bytes, RedisKeys.lockSuffix.utf8)
        if isLockKey { targets.append(.lock(key)) }

        if key == keys.groups {
            targets.append(.everyGroup)
        } else if let group = Self.infix(of: bytes, after: keys.groupPrefix.utf8, before: nil) {
            targets.append(.group(GroupID(group)))
        } else if bytes.starts(with: keys.beatPrefix.utf8) {
            targets.append(.everyGroup)
        }
        if isLockKey, let group = Self.infix(of: bytes, after: keys.leaderPrefix.utf8, before: RedisKeys.lockSuffix.utf8) {
            targets.append(.group(GroupID(group)))
        }
        return targets
    }

    private static func hasSuffix(_ bytes: String.UTF8View, _ suffix: String.UTF8View) -> Bool {
        bytes.count >= suffix.count && bytes.reversed().starts(with: suffix.reversed())
    }

    /// The non-empty text between `prefix` and `suffix` (or the end), if `bytes` has both.
    private static func infix(of bytes: String.UTF8View, after prefix: String.UTF8View, before suffix: String.UTF8View?) -> String? {
        guard bytes.starts(with: prefix) else { return nil }
        let suffixCount = suffix?.count ?? 0
        if let suffix, !hasSuffix(bytes, suffix) { return nil }
        guard bytes.count > prefix.count + suffixCount else { return nil }
        return String(decoding: bytes.dropFirst(prefix.count).dropLast(suffixCount), as: UTF8.self)
    }
}
