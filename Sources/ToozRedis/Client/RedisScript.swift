import Tooz

/// A Lua script run with `EVALSHA`, falling back to `EVAL` when the server answers `NOSCRIPT`
/// (after a restart, a `SCRIPT FLUSH` or a failover to a server that never saw it).
package struct RedisScript: Sendable, Hashable {
    /// A short name for error messages and logs.
    package let name: String
    package let source: String
    /// The lowercase hex SHA-1 of `source`, which is how `EVALSHA` names the script.
    package let sha1: String

    package init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}
