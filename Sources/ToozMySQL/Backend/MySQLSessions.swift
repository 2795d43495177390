import ToozNIO

/// A connection that holds at most one of our locks, and the session lock
/// `tooz:session:<key>` by which a holder is named (``MySQLSchema/registerLockSession(key:member:)``).
package typealias MySQLLockConnection = LockConnection<MySQLConnection>

extension LockConnection where Connection == MySQLConnection {
    package var isClosed: Bool { connection.isClosed }

    /// The `SET` of the session's `wait_timeout` (the lease the server enforces) to send first
    /// when it is not `ttl` yet.
    package func idleLimitStatement(_ ttl: Duration) -> String? {
        needsLeaseTTL(ttl) ? MySQLSchema.setIdleLimit(MySQLLiteral.wholeSecondsUp(ttl)) : nil
    }
}

/// The state of our lock held on a connection: what a ``LockGrant`` carries.
package struct MySQLLockHandle: Sendable {
    package let connection: MySQLLockConnection
    /// The user lock's name, as sent.
    package let lock: [UInt8]
}

/// The connection that keeps this coordinator's memberships alive: it holds the session lock
/// of `sessionKey`, which every member row of ours names.
package final class MySQLLivenessSession: Sendable {
    package let connection: MySQLConnection
    package let sessionKey: Int64

    package init(connection: MySQLConnection, sessionKey: Int64) {
        self.connection = connection
        self.sessionKey = sessionKey
    }
}
