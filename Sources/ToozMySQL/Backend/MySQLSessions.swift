import Synchronization
import Tooz

/// A connection that holds at most one of our locks (or waits for one), and the session lock
/// `tooz:session:<key>` it holds for as long as it lives, by which a holder is named.
///
/// One lock per connection: MySQL's user locks are re-entrant within a session, so a shared
/// connection would let two of our tasks hold one lock.
package final class MySQLLockConnection: Sendable {
    package let connection: MySQLConnection
    package let sessionKey: UInt64
    /// The owner token of the lock held on it; reported lost if the connection closes first.
    private let holder = Mutex<String?>(nil)
    /// The `wait_timeout` set on the session, in seconds: the lease the server enforces.
    private let idleLimit = Mutex<Int64?>(nil)

    package init(connection: MySQLConnection, sessionKey: UInt64) {
        self.connection = connection
        self.sessionKey = sessionKey
    }

    package var isClosed: Bool { connection.isClosed }

    package func held(by token: String) { holder.withLock { $0 = token } }

    /// Forgets the holder; returns it.
    @discardableResult
    package func released() -> String? {
        holder.withLock { token in
            defer { token = nil }
            return token
        }
    }

    /// The `SET` to send first when the session's idle limit is not `seconds` yet.
    package func idleLimitStatement(_ seconds: Int64) -> String? {
        idleLimit.withLock { $0 == seconds ? nil : MySQLSchema.setIdleLimit(seconds) }
    }

    package func idleLimitSet(_ seconds: Int64) { idleLimit.withLock { $0 = seconds } }
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
    package let sessionKey: UInt64

    package init(connection: MySQLConnection, sessionKey: UInt64) {
        self.connection = connection
        self.sessionKey = sessionKey
    }
}
