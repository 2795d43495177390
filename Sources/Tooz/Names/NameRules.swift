/// The limits a backend puts on group ids, member ids and lock names.
///
/// The coordinator checks every name against these rules before any I/O, so a bad name fails
/// with ``ToozError/Code-swift.struct/invalidArgument`` and never reaches the backend.
public struct NameRules: Sendable, Hashable {
    /// The longest name, in UTF-8 bytes.
    public var maximumLength: Int
    /// A shorter limit for one kind of name, in UTF-8 bytes: MySQL's lock names, for example,
    /// are limited where its group rows are not.
    public var maximumLengthByKind: [Kind: Int]
    /// Characters the backend cannot store in a name. A name is refused when one of its
    /// characters is in the set, or one of its Unicode scalars is: a space followed by a
    /// combining mark is one `Character`, but still holds the space.
    public var forbiddenCharacters: Set<Character>
    /// Whether a name must be ASCII (ZooKeeper paths, for example).
    public var asciiOnly: Bool
    /// Names the backend uses for itself, by kind (ZooKeeper's `leader` node is not a member,
    /// its `locks` node is not a group).
    public var reserved: [Kind: Set<String>]
    /// Beginnings of names the backend uses for itself, by kind: on memcached a lock named
    /// `_TOOZ_GROUP_LEADER_x` would be the leadership of group `x`.
    public var reservedPrefixes: [Kind: [String]]

    public init(
        maximumLength: Int = 1024, forbiddenCharacters: Set<Character> = ["\0"], asciiOnly: Bool = false,
        reserved: [Kind: Set<String>] = [:], reservedPrefixes: [Kind: [String]] = [:], maximumLengthByKind: [Kind: Int] = [:]
    ) {
        self.maximumLength = maximumLength
        self.maximumLengthByKind = maximumLengthByKind
        self.forbiddenCharacters = forbiddenCharacters.union(["\0"])
        self.asciiOnly = asciiOnly
        self.reserved = reserved
        self.reservedPrefixes = reservedPrefixes
    }

    /// Which kind of name is checked; used in error messages.
    public enum Kind: String, Sendable, Hashable {
        case group = "group id"
        case member = "member id"
        case lock = "lock name"
    }

    /// Throws `invalidArgument` when `name` breaks a rule.
    public func validate(_ name: String, as kind: Kind) throws(ToozError) {
        if name.isEmpty {
            throw ToozError(.invalidArgument, "a \(kind.rawValue) must not be empty")
        }
        let length = name.utf8.count
        let limit = min(maximumLength, maximumLengthByKind[kind] ?? maximumLength)
        if length > limit {
            throw ToozError(
                .invalidArgument,
                "\(kind.rawValue) is \(length) bytes long; this backend accepts at most \(limit)"
            )
        }
        if asciiOnly, !name.unicodeScalars.allSatisfy(\.isASCII) {
            throw ToozError(.invalidArgument, "\(kind.rawValue) \(name.debugDescription) must be ASCII on this backend")
        }
        if reserved[kind]?.contains(name) == true {
            throw ToozError(.invalidArgument, "\(kind.rawValue) \(name.debugDescription) is reserved by this backend")
        }
        if let prefix = reservedPrefixes[kind]?.first(where: { name.hasPrefix($0) }) {
            throw ToozError(
                .invalidArgument,
                "\(kind.rawValue) \(name.debugDescription) starts with \(prefix.debugDescription), which this backend reserves for itself"
            )
        }
        if let bad = name.first(where: { forbiddenCharacters.contains($0) })
            ?? name.unicodeScalars.first(where: { forbiddenCharacters.contains(Character($0)) }).map(Character.init)
        {
            throw ToozError(
                .invalidArgument,
                "\(kind.rawValue) \(name.debugDescription) contains \(String(bad).debugDescription), which this backend cannot store"
            )
        }
    }
}
