import NIOCore
import Synchronization

/// A server connection that holds at most one lock of ours, or waits for one: in PostgreSQL and
/// MySQL a lock belongs to a session, and a session re-enters its own locks, so a connection
/// shared by two of our tasks would let both hold one lock.
///
/// It also holds, for as long as it lives, a session lock of a random `sessionKey` by which the
/// server tells whose it is.
package final class LockConnection<Connection: AnyObject & Sendable>: Sendable {
    package let connection: Connection
    package let sessionKey: Int64
    /// The owner token of the lock held on it; reported lost if the connection closes first.
    private let holder = Mutex<String?>(nil)
    /// The lease TTL the session is set to end after, idle (`idle_session_timeout`, `wait_timeout`).
    private let leaseTTL = Mutex<Duration?>(nil)

    package init(connection: Connection, sessionKey: Int64) {
        self.connection = connection
        self.sessionKey = sessionKey
    }

    package func held(by token: String) { holder.withLock { $0 = token } }

    /// Forgets the holder; returns it.
    @discardableResult
    package func released() -> String? {
        holder.withLock { token in
            defer { token = nil }
            return token
        }
    }

    /// Whether the session's idle limit must be set to `ttl` first.
    package func needsLeaseTTL(_ ttl: Duration) -> Bool { leaseTTL.withLock { $0 != ttl } }
    package func leaseTTLSet(_ ttl: Duration) { leaseTTL.withLock { $0 = ttl } }
}

/// The lock connections of one backend: every open one (closed on disconnect), and a few idle
/// ones kept for reuse.
package final class LockConnectionPool<Connection: AnyObject & Sendable>: Sendable {
    package typealias Member = LockConnection<Connection>

    private struct State {
        var idle: [Member] = []
        var all: [ObjectIdentifier: Member] = [:]
        /// Set by ``removeAll()``: the backend is disconnecting.
        var closed = false
    }

    private let state = Mutex(State())
    private let idleLimit: Int
    private let isClosed: @Sendable (Connection) -> Bool
    private let closeNow: @Sendable (Connection) -> Void

    /// - Parameter idleLimit: how many idle connections are kept: one serves a caller that
    ///   takes one lock after another; more would hold server processes a busy server may need.
    package init(idleLimit: Int, isClosed: @escaping @Sendable (Connection) -> Bool, closeNow: @escaping @Sendable (Connection) -> Void) {
        self.idleLimit = idleLimit
        self.isClosed = isClosed
        self.closeNow = closeNow
    }

    /// An idle connection that is still open, if there is one.
    package func takeIdle() -> Member? {
        while let idle = state.withLock({ $0.idle.popLast() }) {
            if !isClosed(idle.connection) { return idle }
        }
        return nil
    }

    /// Adds a new connection. When it closes it leaves the pool, and if it held a lock, `lost`
    /// gets the holder's token: the server has dropped the lock with the session.
    ///
    /// - Returns: `false`, having closed the connection, when the pool was emptied for good
    ///   meanwhile (a disconnect overtook the connect): nothing may be held on it.
    package func add(_ member: Member, closeFuture: EventLoopFuture<Void>, lost: @escaping @Sendable (String) -> Void) -> Bool {
        let id = ObjectIdentifier(member)
        let added = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.all[id] = member
            return true
        }
        guard added else {
            closeNow(member.connection)
            return false
        }
        closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { state in
                state.all[id] = nil
                state.idle.removeAll { $0 === member }
            }
            if let token = member.released() { lost(token) }
        }
        return true
    }

    /// Puts a connection that holds nothing back for reuse, or closes it.
    package func checkin(_ member: Member) {
        guard !isClosed(member.connection) else { return }
        let keep = state.withLock { state -> Bool in
            guard state.idle.count < idleLimit, state.all[ObjectIdentifier(member)] != nil else { return false }
            state.idle.append(member)
            return true
        }
        if !keep { closeNow(member.connection) }
    }

    /// Empties the pool for good (later ``add(_:closeFuture:lost:)`` calls close their
    /// connection); returns every connection, for the caller to close.
    package func removeAll() -> [Connection] {
        state.withLock { state in
            defer { state = State(closed: true) }
            // Every idle connection is in `all` too.
            return state.all.values.map(\.connection)
        }
    }
}

/// The retries of an acquisition on a lock connection, the same for every backend that holds
/// locks on sessions.
package enum LockConnectionAttempt {
    /// A pooled connection was found dead by the attempt's first statement (the server ended
    /// it while it was idle): try again on a new one.
    package struct StaleConnection: Error {
        package init() {}
    }

    /// A wait was granted, but the lock was gone by the time it could be proved held: try again
    /// on a new connection while the wait allows.
    package struct LostBeforeProven: Error {
        package init() {}
    }

    /// Runs `attempt` (first allowed to reuse a pooled connection) until it answers.
    package static func retrying<Grant>(
        hasExpired: () -> Bool, _ attempt: (_ reuse: Bool) async throws -> Grant?
    ) async throws -> Grant? {
        var reuse = true
        while true {
            do {
                return try await attempt(reuse)
            } catch is StaleConnection {
                reuse = false
            } catch is LostBeforeProven {
                reuse = false
                if hasExpired() { return nil }
            }
        }
    }
}
