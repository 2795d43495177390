import Synchronization

/// The shared state behind `memory://` backends: groups, members, locks and fencing counters of
/// one process, measured on one ``ToozClock``.
///
/// Coordinators whose backends share a store see each other, as processes sharing a server
/// would. It is also a test double: ``failOperations`` makes every call fail like a broken
/// connection, and ``expire(member:)`` simulates a crashed member.
public final class MemoryStore: Sendable {
    struct Member: Sendable {
        var capabilities: Capabilities
        var expiresAt: Duration
    }

    struct Holder: Sendable {
        var owner: LockOwner
        var expiresAt: Duration
    }

    struct State: Sendable {
        var groups: [GroupID: [MemberID: Member]] = [:]
        var locks: [LockKey: Holder] = [:]
        var fencing: [LockKey: UInt64] = [:]
        var signals: [GroupID: ChangeBroadcast] = [:]
        var failOperations = false
    }

    /// The clock TTLs are measured on; give coordinators on this store the same one.
    public let clock: any ToozClock
    let state = Mutex(State())
    /// Notified on every lock release or expiry, so waiters retry at once.
    let lockReleased = ChangeBroadcast()

    public init(clock: any ToozClock = .continuous) {
        self.clock = clock
    }

    /// When `true`, every backend operation on this store throws `connectionFailed`.
    public var failOperations: Bool {
        get { state.withLock { $0.failOperations } }
        set { state.withLock { $0.failOperations = newValue } }
    }

    /// Removes `member` from every group at once, as if its membership had expired.
    public func expire(member: MemberID) {
        let touched = state.withLock { state -> [ChangeBroadcast] in
            var touched: [ChangeBroadcast] = []
            for group in state.groups.keys where state.groups[group]?.removeValue(forKey: member) != nil {
                touched.append(Self.signal(for: group, in: &state))
            }
            return touched
        }
        touched.forEach { $0.notifyAll() }
    }

    /// Drops every lock `member` holds, as if its leases had expired.
    public func expireLocks(of member: MemberID) {
        let groups = state.withLock { state -> [GroupID] in
            let keys = state.locks.filter { $0.value.owner.member == member }.map(\.key)
            keys.forEach { state.locks.removeValue(forKey: $0) }
            return keys.compactMap { if case .leadership(let group) = $0 { group } else { nil } }
        }
        lockReleased.notifyAll()
        groups.forEach { signal(for: $0).notifyAll() }
    }

    func signal(for group: GroupID) -> ChangeBroadcast {
        state.withLock { Self.signal(for: group, in: &$0) }
    }

    static func signal(for group: GroupID, in state: inout State) -> ChangeBroadcast {
        if let signal = state.signals[group] { return signal }
        let signal = ChangeBroadcast()
        state.signals[group] = signal
        return signal
    }

    // MARK: Named stores

    private static let named = Mutex<[String: MemoryStore]>([:])

    /// The process-wide store called `name` (the host of a `memory://NAME` URL), created on first use.
    public static func named(_ name: String) -> MemoryStore {
        named.withLock { stores in
            if let store = stores[name] { return store }
            let store = MemoryStore()
            stores[name] = store
            return store
        }
    }
}
