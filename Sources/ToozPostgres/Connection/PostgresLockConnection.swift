import PostgresNIO
import Tooz
import ToozNIO

/// A connection that holds at most one of our locks (or waits for one), and the int8 session
/// key it holds for as long as it lives, by which `pg_locks` tells whose it is.
package typealias PostgresLockConnection = LockConnection<PostgresConnection>

extension LockConnection where Connection == PostgresConnection {
    package var isClosed: Bool { connection.isClosed }
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
