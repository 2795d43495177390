import Synchronization

/// What a backend lock protects: a named lock or the leadership of a group.
///
/// Leadership is a lock whose storage key the backend chooses (tooz's `leader_of_<group>` on
/// Redis, `/tooz/<group>/leader` on ZooKeeper), so one lease mechanism serves both.
public enum LockKey: Hashable, Sendable, CustomStringConvertible {
    case lock(LockName)
    case leadership(GroupID)

    public var description: String {
        switch self {
        case .lock(let name): "lock \(name.rawValue.debugDescription)"
        case .leadership(let group): "leadership of \(group.rawValue.debugDescription)"
        }
    }
}

/// Who asks for a lock: the member and a token unique to this one acquisition.
public struct LockOwner: Hashable, Sendable {
    public var member: MemberID
    /// Unique per acquisition; what the backend compares before a refresh or release.
    public var token: String

    public init(member: MemberID, token: String = LockOwner.uniqueToken()) {
        self.member = member
        self.token = token
    }

    /// 32 lowercase hex characters, unique per call: a random per-process prefix (64 bits from
    /// the system random source, drawn once) and a per-process counter. Unique across processes
    /// and hosts with overwhelming probability, and cheap: no system call per acquisition.
    public static func uniqueToken() -> String {
        let counter = tokenCounter.add(1, ordering: .relaxed).newValue
        // Written in place: this runs once per acquisition, and formatting through
        // String(_:radix:) and concatenation cost more than the semaphore calls of an ipc:// lock.
        return String(unsafeUninitializedCapacity: 32) { buffer in
            writeHex(processPrefix, into: buffer, at: 0)
            writeHex(counter, into: buffer, at: 16)
            return 32
        }
    }

    private static let processPrefix: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()

    private static let tokenCounter = Atomic<UInt64>(0)

    /// Writes `value` as 16 lowercase hex digits, zero-padded, at `offset`.
    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        let digits: StaticString = "0123456789abcdef"
        for index in 0..<16 {
            let nibble = Int((value >> UInt64(60 - 4 * index)) & 0xF)
            buffer[offset + index] = digits.utf8Start[nibble]
        }
    }
}

/// What a backend returns for a successful acquisition.
///
/// Equality and hashing look at the owner and the fencing token only.
public struct LockGrant: Hashable, Sendable {
    /// The owner that acquired it, token included.
    public var owner: LockOwner
    /// Grows strictly with every acquisition of the same key on the same backend.
    public var fencingToken: FencingToken
    /// The backend's own state for this grant (the lock node, the open lock file, the
    /// semaphore), handed back to ``CoordinationBackend/refresh(_:grant:ttl:)`` and
    /// ``CoordinationBackend/release(_:grant:)``, so that no backend keeps a table by owner token.
    public var handle: (any Sendable)?
    /// The lease the store really applies, when it differs from the one asked for (the
    /// session timeout the ZooKeeper server granted). `nil`: the requested TTL.
    public var ttl: Duration?
    /// When the request that proved the grant was sent, on the coordinator's clock; the safe
    /// deadline is measured from it. `nil`: the moment the acquisition started (earlier, so safe).
    public var validFrom: Duration?

    public init(
        owner: LockOwner, fencingToken: FencingToken, handle: (any Sendable)? = nil, ttl: Duration? = nil,
        validFrom: Duration? = nil
    ) {
        self.owner = owner
        self.fencingToken = fencingToken
        self.handle = handle
        self.ttl = ttl
        self.validFrom = validFrom
    }

    /// The handle as the backend's own type.
    public func handle<Handle>(as type: Handle.Type) -> Handle? { handle as? Handle }

    public static func == (lhs: LockGrant, rhs: LockGrant) -> Bool {
        lhs.owner == rhs.owner && lhs.fencingToken == rhs.fencingToken
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(owner)
        hasher.combine(fencingToken)
    }
}

/// A number that grows strictly with every acquisition of a lock, so a resource can refuse a
/// write from a holder whose lease has already passed to someone else.
///
/// Compare tokens of the same lock only. ``strength`` says how far the ordering can be trusted
/// (see docs/BACKENDS.md).
public struct FencingToken: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt64
    public var strength: FencingStrength

    public init(_ value: UInt64, strength: FencingStrength) {
        self.value = value
        self.strength = strength
    }

    public static func < (lhs: FencingToken, rhs: FencingToken) -> Bool { lhs.value < rhs.value }
    public var description: String { String(value) }
}
