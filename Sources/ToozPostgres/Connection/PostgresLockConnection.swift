import PostgresNIO
import Synchronization
import Tooz

/// A connection that holds at most one of our locks (or waits for one), and the int8 session
/// key it holds for as long as it lives, by which `pg_locks` tells whose it is.
///
/// One lock per connection: PostgreSQL's advisory locks are re-entrant within a session, so a
/// shared connection would let two of our tasks hold one lock.
package final class PostgresLockConnection: Sendable {
    package let connection: PostgresConnection
    package let sessionKey: Int64
    /// The owner token of the lock held on it; reported lost if the connection closes first.
    private let holder = Mutex<String?>(nil)
    /// The `idle_session_timeout` set on the session: the lease the server enforces.
    private let idleTimeout = Mutex<Duration?>(nil)

    package init(connection: PostgresConnection, sessionKey: Int64) {
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

    /// Whether the session's idle timeout must be set to `ttl` first.
    package func needsIdleTimeout(_ ttl: Duration) -> Bool { idleTimeout.withLock { $0 != ttl } }
    package func idleTimeoutSet(_ ttl: Duration) { idleTimeout.withLock { $0 = ttl } }
}

/// The state of our lock held on a connection: what a ``LockGrant`` carries.
package struct PostgresLockHandle: Sendable {
    package let connection: PostgresLockConnection
    package let key: PostgresAdvisoryKey
}

/// The connection that keeps this coordinator's memberships alive: it holds the int8 lock of
/// `sessionKey`, which every member row of ours names.
package final class PostgresLivenessSession: Sendable {
    package let connection: PostgresConnection
    package let sessionKey: Int64

    package init(connection: PostgresConnection, sessionKey: Int64) {
        self.connection = connection
        self.sessionKey = sessionKey
    }
}
