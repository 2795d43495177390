import Tooz
import ToozNIO

extension MySQLBackend {
    /// The user lock `key` stands for: a named lock's raw name bytes, as Python tooz sends them,
    /// or the digest of a group's leadership.
    func lockName(_ key: LockKey) -> [UInt8] {
        switch key {
        case .lock(let name): Array(name.rawValue.utf8)
        case .leadership(let group):
            Array(MySQLSchema.leadershipLock(database: configuration.connection.database ?? "", group: group.rawValue).utf8)
        }
    }

    /// One attempt, on a lock connection of its own: `GET_LOCK(name, 0)` and the fencing token
    /// in one round trip (one statement on MariaDB).
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let clock = self.clock
        return try await acquire(AcquireRequest(key: key, owner: owner, ttl: ttl, deadline: clock.now(), clock: clock, pollInterval: .seconds(1)))
    }

    /// Takes the lock, waiting on the server: `GET_LOCK` with the time left before the deadline
    /// as its timeout (a year without one), so the server hands the lock over the moment it is
    /// free. A free lock costs what a try costs: one statement. A cancelled wait closes its
    /// connection, which ends the wait on the server. A connection reused from the pool that
    /// turns out to be dead (the server ended it as idle) is replaced once.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        try await LockConnectionAttempt.retrying(hasExpired: { request.hasExpired(at: request.clock.now()) }) { reuse in
            try await attempt(request, reuse: reuse)
        }
    }

    private func attempt(_ request: AcquireRequest, reuse: Bool) async throws -> LockGrant? {
        let lock = lockName(request.key)
        let (lockConnection, reused) = try await checkoutLockConnection(member: request.owner.member, reuse: reuse)
        let connection = lockConnection.connection
        var outcome = CheckinOutcome.returnToPool
        defer {
            switch outcome {
            case .returnToPool: checkin(lockConnection)
            case .keep: break
            case .close: connection.closeNow()
            }
        }
        do {
            let setIdleLimit = lockConnection.idleLimitStatement(request.ttl)
            var sentAt = request.clock.now()
            // First a try: a free lock costs one statement whether or not the caller may wait.
            let tried = try await connection.query(
                [setIdleLimit, schema.tryAcquire(lock)].compactMap { $0 }.joined(separator: "; "), timeout: statementTimeout,
                doing: "acquire the \(request.key)"
            )
            if setIdleLimit != nil { lockConnection.leaseTTLSet(request.ttl) }
            var waited = false
            var fence = try Self.fencingToken(tried, request.key)
            if fence == nil {
                // Busy: wait in the server for what is left of the wait, if anything.
                sentAt = request.clock.now()
                let left = request.deadline.map { $0 - sentAt }
                if let left, left <= .zero { return nil }
                let wait = left ?? .seconds(MySQLLiteral.longestSeconds)
                let results = try await connection.query(
                    schema.waitAcquire(lock, wait: MySQLLiteral.seconds(wait)), timeout: statementTimeout + wait,
                    doing: "wait for the \(request.key)"
                )
                guard let row = Self.resultSets(results).last?.rows.first else {
                    throw ToozError(.backendError, "MySQL answered no row for a wait for the \(request.key)")
                }
                switch try row.int64(0, "GET_LOCK's answer") {
                case 1: break
                case 0: return nil
                default: throw Self.getLockFailed(request.key)
                }
                guard let token = try row.int64(1, "the fencing token"), token > 0 else {
                    throw ToozError(.backendError, "MySQL granted the \(request.key) without a fencing token")
                }
                fence = token
                waited = true
            }
            guard let fence else { return nil }
            // The server's idle timer (the lease) starts once it has answered, which is after
            // `sentAt` (the try's, or the wait's): counting the lease from `sentAt` is always
            // safe. After a long wait that would leave little or nothing of the lease (and an
            // answer may have sat unread for longer than the TTL, in a starved client, while the
            // lock was handed on), so such a grant is proved held by one more statement and
            // counted from that statement instead.
            var validFrom = sentAt
            if waited, request.clock.now() - sentAt >= request.ttl / 4 {
                validFrom = request.clock.now()
                let held: Bool
                do {
                    let proof = try await connection.query(
                        MySQLSchema.holds(lock), timeout: statementTimeout, doing: "check the \(request.key) just granted"
                    )
                    held = try Self.firstInteger(proof, "whether the lock is held") == 1
                } catch let error as ToozError where error.code == .connectionFailed {
                    held = false
                }
                guard held else { throw LockConnectionAttempt.LostBeforeProven() }
            }
            lockConnection.held(by: request.owner.token)
            outcome = .keep
            return LockGrant(
                owner: request.owner, fencingToken: FencingToken(UInt64(fence), strength: .durable),
                handle: MySQLLockHandle(connection: lockConnection, lock: lock), ttl: request.ttl, validFrom: validFrom
            )
        } catch {
            // A failed statement may still have taken the lock (a user lock outlives a failed
            // statement): only a closed connection is sure to hold nothing.
            outcome = .close
            if error is LockConnectionAttempt.LostBeforeProven { throw error }
            if reused, let failure = error as? ToozError, failure.code == .connectionFailed { throw LockConnectionAttempt.StaleConnection() }
            throw error
        }
    }

    /// The token of a try's answer: nil when the lock is busy.
    private static func fencingToken(_ results: [MySQLResult], _ key: LockKey) throws -> Int64? {
        guard let row = resultSets(results).last?.rows.first else {
            throw ToozError(.backendError, "MySQL answered no row for an acquisition of the \(key)")
        }
        guard let token = try row.int64(0, "the fencing token") else { throw getLockFailed(key) }
        return token > 0 ? token : nil
    }

    private static func getLockFailed(_ key: LockKey) -> ToozError {
        ToozError(.backendError, "MySQL's GET_LOCK failed on the \(key) (it answered NULL: the session was killed or ran out of memory)")
    }

    private enum CheckinOutcome {
        case returnToPool
        case keep
        case close
    }

    /// Whether our connection still holds the lock; also restarts the server's idle timer,
    /// which is what extends the lease.
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let handle = grant.handle(as: MySQLLockHandle.self), !handle.connection.isClosed else { return false }
        let setIdleLimit = handle.connection.idleLimitStatement(ttl)
        let sql = [setIdleLimit, MySQLSchema.holds(handle.lock)].compactMap { $0 }.joined(separator: "; ")
        do {
            let results = try await handle.connection.connection.query(sql, timeout: statementTimeout, doing: "refresh the \(key)")
            if setIdleLimit != nil { handle.connection.leaseTTLSet(ttl) }
            return try Self.firstInteger(results, "whether the lock is held") == 1
        } catch let error as ToozError where error.code == .connectionFailed {
            // The session is gone, and its locks with it.
            return false
        }
    }

    /// `RELEASE_LOCK` on the lock's own connection, which then goes back to the pool.
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let handle = grant.handle(as: MySQLLockHandle.self) else { return false }
        let lockConnection = handle.connection
        guard !lockConnection.isClosed else { return false }
        lockConnection.released()
        let released: Bool
        do {
            let results = try await lockConnection.connection.query(
                MySQLSchema.release(handle.lock), timeout: statementTimeout, doing: "release the \(key)"
            )
            released = try Self.firstInteger(results, "whether the lock was released") == 1
        } catch let error as ToozError where error.code == .connectionFailed {
            return false
        } catch {
            lockConnection.connection.closeNow()
            throw error
        }
        if released { checkin(lockConnection) } else { lockConnection.connection.closeNow() }
        return released
    }

    /// The member whose lock connection holds the lock; `nil` when it is free or held by a
    /// session that is not ours (Python tooz's).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let results = try await run(schema.holder(lockName(key)), doing: "read the holder of the \(key)")
        return try Self.resultSets(results).last?.rows.first.map { row throws(ToozError) in MemberID(try Self.text(row, 0, "a member id")) }
    }

    /// Ends the session holding the lock (`KILL CONNECTION`), which frees it. Needs the
    /// holder's user or the `CONNECTION ADMIN`/`SUPER` privilege.
    public func breakLock(_ key: LockKey) async throws -> Bool {
        let results = try await run(MySQLSchema.holderConnection(lockName(key)), doing: "find the holder of the \(key)")
        guard let id = try Self.firstInteger(results, "the holder's connection id") else { return false }
        do {
            _ = try await run("KILL CONNECTION \(id)", doing: "break the \(key)")
        } catch let error as ToozError where MySQLServerError.of(error)?.code == Self.unknownThread {
            // It ended by itself meanwhile.
            return false
        }
        try await waitUntilFreedBy(connection: id, key)
        return true
    }

    /// `KILL` only marks the connection: it frees its locks when it notices, which a busy server
    /// may take a moment to do, and a breaker must find the lock free once the break returned.
    /// Polls `IS_USED_LOCK` until another connection (or none) holds it, within the statement
    /// timeout.
    private func waitUntilFreedBy(connection id: Int64, _ key: LockKey) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + statementTimeout
        var pause = Duration.milliseconds(1)
        while true {
            let results = try await run(MySQLSchema.holderConnection(lockName(key)), doing: "see the \(key) freed by the break")
            guard try Self.firstInteger(results, "the holder's connection id") == id else { return }
            guard clock.now < deadline else {
                throw ToozError(.timedOut, "the connection holding the \(key) was killed but still held it after \(statementTimeout)")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// ER_NO_SUCH_THREAD: `KILL` of a connection that is gone.
    static let unknownThread: UInt16 = 1094
}
