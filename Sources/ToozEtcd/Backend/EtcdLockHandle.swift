/// What a grant remembers of its lock key: the session lease the key rides on and the key's
/// create revision, which is also the grant's fencing token. Refresh and release compare it, so
/// a stale grant can neither extend nor delete the next holder's key.
struct EtcdLockHandle: Sendable, Hashable {
    var lease: Int64
    var createRevision: Int64
}
