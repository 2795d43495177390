import Tooz

/// The key layout: tooz 9.1.0's keys (so Python members see ours and we see theirs) plus a few
/// extra keys that only swift-tooz reads. `NS` is the namespace, `_tooz` by default.
///
/// | key | tooz | content |
/// |---|---|---|
/// | `NS_groups` | yes | SET of group ids |
/// | `NS_group:<g>` | yes | HASH: `__created__` = `1`, member → oslo msgpack capabilities |
/// | `NS_beats:<m>` | yes | `Not dead!` with a PX of the membership TTL |
/// | `NS_<name>_lock`, `NS_leader_of_<g>_lock` | yes | the holder's token, PX of the lease |
/// | `<lock key>:owner` | no | `<token> <member id>`, same PX: who holds it, for `leader(of:)` |
/// | `NS_fencing` | no | one fencing counter for every lock, INCR'ed by each acquisition |
/// | channel `NS_released` | no | a lock key, published when a Swift holder lets it go |
/// | channel `NS_group_changed` | no | a group id, published when a Swift member changes it |
///
/// Every key starts with ``trackingPrefix`` (`NS_`), which is what client tracking watches
/// (see ``RedisKeyRoute``). The channels are only listened to when tracking is unavailable.
struct RedisKeys: Sendable {
    let namespace: String

    /// tooz's hash field that marks a group as created; no member may be called this.
    static let createdField = "__created__"
    /// What tooz writes into a beat key.
    static let beatValue = "Not dead!"

    /// The prefix every key of the layout starts with.
    var trackingPrefix: String { namespace + "_" }

    var groups: String { namespace + "_groups" }
    /// The prefix of every group hash.
    var groupPrefix: String { namespace + "_group:" }
    func group(_ group: GroupID) -> String { groupPrefix + group.rawValue }
    /// The prefix of every beat key, handed to scripts that check liveness.
    var beatPrefix: String { namespace + "_beats:" }
    func beat(_ member: MemberID) -> String { beatPrefix + member.rawValue }

    /// How every lock key ends.
    static let lockSuffix = "_lock"
    /// The prefix of every leadership lock key: `NS_leader_of_<g>_lock`.
    var leaderPrefix: String { namespace + "_leader_of_" }

    func lock(_ key: LockKey) -> String {
        switch key {
        case .lock(let name): namespace + "_" + name.rawValue + Self.lockSuffix
        case .leadership(let group): leaderPrefix + group.rawValue + Self.lockSuffix
        }
    }
    /// One counter serves every lock: a token only has to grow for each lock, and a single key
    /// never expires without leaving one counter behind per lock name ever used.
    var fencing: String { namespace + "_fencing" }

    var releasedChannel: String { namespace + "_released" }
    var groupChangedChannel: String { namespace + "_group_changed" }
}
