import Tooz

/// The pure part of kazoo's `Lock` recipe, which tooz uses for locks and leadership: node
/// names, which children are contenders, and their order.
///
/// A contender is an ephemeral sequential node `<uuid4hex>__lock__<seq10>` whose data is the
/// member id (UTF-8). Contenders are the children matching `__lock__(-?\d{10})$`, sorted by the
/// sequence **as a string**, as kazoo sorts them; the first one holds the lock.
package enum ZooKeeperLockRecipe {
    /// kazoo's `_NODE_NAME`.
    package static let marker = "__lock__"

    /// The name given to `create` (the server appends the sequence): `<prefix>__lock__`.
    package static func nodePrefix(for uuid: String) -> String { uuid + marker }

    /// A 32-hex-character id unique to one acquisition attempt, like kazoo's `uuid4().hex`.
    /// The core's owner token is already one; anything else is replaced by a fresh one.
    package static func uuid(from token: String) -> String {
        let isHex = token.utf8.count == 32 && token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        return isHex ? token : LockOwnerToken.fresh()
    }

    /// The sequence suffix of a contender node name, or `nil` when the child is no contender.
    package static func sequence(of name: String) -> Substring? {
        let digits = name.suffix(10)
        guard digits.utf8.count == 10, digits.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        var rest = name.dropLast(10)
        var sequence = digits
        if rest.hasSuffix("-") {
            rest = rest.dropLast()
            sequence = name.suffix(11)
        }
        return rest.hasSuffix(marker) ? sequence : nil
    }

    /// The contenders among `children`, the holder first.
    package static func contenders(_ children: [String]) -> [String] {
        children.compactMap { child in sequence(of: child).map { (child, $0) } }
            .sorted { $0.1 < $1.1 }
            .map(\.0)
    }

    /// The children that `uuid`'s attempts created (normally at most one), in contender order.
    package static func nodes(of uuid: String, in children: [String]) -> [String] {
        let prefix = nodePrefix(for: uuid)
        return contenders(children).filter { $0.hasPrefix(prefix) }
    }
}

/// Fresh kazoo-style uuids when the core's token cannot serve as one.
enum LockOwnerToken {
    static func fresh() -> String { LockOwner.uniqueToken() }
}
