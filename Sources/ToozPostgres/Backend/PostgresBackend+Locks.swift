import PostgresNIO
import Tooz
import ToozNIO

extension PostgresBackend {
    /// One attempt, on a lock connection of its own: `pg_try_advisory_lock` and the fencing
    /// token's `nextval` in one statement.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let clock = self.clock
        return try await acquire(AcquireRequest(key: key, owner: owner, ttl: ttl, deadline: clock.now(), clock: clock, pollInterval: .seconds(1)))
    }

    /// Takes the lock, waiting on the server: `pg_advisory_lock` under a `lock_timeout` of the
    /// time left before the deadline (none without one), so the server hands the lock over the
    /// moment it is free. A cancelled wait closes its connection, which ends the wait on the
    /// server. A connection reused from the pool that turns out to be dead (the server ended
    /// it as idle) is replaced once.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        try await LockConnectionAttempt.retrying(hasExpired: { request.hasExpired(at: request.clock.now()) }) { reuse in
            try await attempt(request, reuse: reuse)
        }
    }

    private func attempt(_ request: AcquireRequest, reuse: Bool) async throws -> LockGrant? {
        let advisory = PostgresAdvisoryKey.of(request.key, style: configuration.lockKeys)
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
            if lockConnection.needsLeaseTTL(request.ttl) {
                _ = try await connection.rows(
                    PostgresQuery(unsafeSQL: "SELECT set_config('idle_session_timeout', $1::text, false)", binds: Self.binds(Self.milliseconds(request.ttl))),
                    timeout: statementTimeout, doing: "set a lock connection's lease", logger: logger
                )
                lockConnection.leaseTTLSet(request.ttl)
            }
            var notify: [String] = []
            if case .leadership(let group) = request.key { notify = [schema.channel, group.rawValue] }
            let sentAt = request.clock.now()
            let fence: Int64?
            let waited: Bool
            if let deadline = request.deadline, deadline <= sentAt {
                waited = false
                let doing = "acquire the \(request.key)"
                if notify.isEmpty {
                    // A named lock: the prepared statement of the lock cycle.
                    let sequence = schema.fencingSequence
                    switch advisory {
                    case .pair(let first, let second):
                        let statement = PostgresStatements.TryLockPair(first: first, second: second, sequence: sequence)
                        fence = try await connection.firstRow(statement, timeout: statementTimeout, doing: doing, logger: logger) ?? nil
                    case .single(let key):
                        let statement = PostgresStatements.TryLockSingle(key: key, sequence: sequence)
                        fence = try await connection.firstRow(statement, timeout: statementTimeout, doing: doing, logger: logger) ?? nil
                    }
                } else {
                    let rows = try await connection.rows(
                        PostgresQuery(unsafeSQL: schema.tryAcquire(advisory, notifyParameter: 1), binds: Self.binds(strings: notify)),
                        timeout: statementTimeout, doing: doing, logger: logger
                    )
                    fence = try rows.first?.value(0, as: Int64?.self, "the fencing token")
                }
            } else {
                waited = true
                let left = request.deadline.map { $0 - sentAt }
                let wait = left.map { max(1, Self.milliseconds($0)) } ?? 0
                do {
                    let rows = try await connection.rows(
                        PostgresQuery(
                            unsafeSQL: schema.waitAcquire(advisory, timeoutParameter: 1, notifyParameter: notify.isEmpty ? nil : 2),
                            binds: Self.binds(strings: [String(wait)] + notify)
                        ),
                        timeout: statementTimeout + (left ?? .seconds(100 * 365 * 86_400)), doing: "wait for the \(request.key)", logger: logger
                    )
                    fence = try rows.first?.value(notify.isEmpty ? 2 : 3, as: Int64.self, "the fencing token")
                } catch let error as ToozError where error.underlying.flatMap(PostgresErrors.sqlState) == PostgresErrors.lockNotAvailable {
                    return nil
                }
            }
            guard let fence else { return nil }
            // The server's idle timer (the lease) starts once it has answered, which is after
            // `sentAt`: counting the lease from `sentAt` is always safe. After a long wait that
            // would leave little or nothing of the lease (and a wait's answer may have sat unread
            // for longer than the TTL, in a starved client: seen under load in `tooz torture`,
            // while the lock was handed on), so such a grant is proved held by one more
            // statement and counted from that statement instead. A wait answered within a
            // quarter of the TTL (a free lock, a prompt hand-over) needs no proof: the core
            // refuses a grant whose lease counted from `sentAt` has run out.
            var validFrom = sentAt
            if waited, request.clock.now() - sentAt >= request.ttl / 4 {
                validFrom = request.clock.now()
                let held: Bool
                do {
                    let rows = try await connection.rows(
                        PostgresQuery(unsafeSQL: schema.holds(advisory)), timeout: statementTimeout,
                        doing: "check the \(request.key) just granted", logger: logger
                    )
                    held = try rows.first?.value(0, as: Bool.self, "whether the lock is held") == true
                } catch let error as ToozError where error.code == .connectionFailed {
                    held = false
                }
                guard held else { throw LockConnectionAttempt.LostBeforeProven() }
            }
            lockConnection.held(by: request.owner.token)
            outcome = .keep
            return LockGrant(
                owner: request.owner, fencingToken: FencingToken(UInt64(fence), strength: .durable),
                handle: PostgresLockHandle(connection: lockConnection, key: advisory), ttl: request.ttl, validFrom: validFrom
            )
        } catch {
            // A failed statement may still have taken the lock (session locks outlive an
            // aborted statement): only a closed connection is sure to hold nothing.
            outcome = .close
            if error is LockConnectionAttempt.LostBeforeProven { throw error }
            if reused, let failure = error as? ToozError, failure.code == .connectionFailed { throw LockConnectionAttempt.StaleConnection() }
            throw error
        }
    }

    private enum CheckinOutcome {
        case returnToPool
        case keep
        case close
    }

    /// Whether our connection still holds the key; also restarts the server's idle timer, which
    /// is what extends the lease.
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let handle = grant.handle(as: PostgresLockHandle.self), !handle.connection.isClosed else { return false }
        let connection = handle.connection.connection
        do {
            if handle.connection.needsLeaseTTL(ttl) {
                _ = try await connection.rows(
                    PostgresQuery(unsafeSQL: "SELECT set_config('idle_session_timeout', $1::text, false)", binds: Self.binds(Self.milliseconds(ttl))),
                    timeout: statementTimeout, doing: "set a lock connection's lease", logger: logger
                )
                handle.connection.leaseTTLSet(ttl)
            }
            let rows = try await connection.rows(
                PostgresQuery(unsafeSQL: schema.holds(handle.key)), timeout: statementTimeout, doing: "refresh the \(key)", logger: logger
            )
            return try rows.first?.value(0, as: Bool.self, "whether the lock is held") == true
        } catch let error as ToozError where error.code == .connectionFailed {
            // The session is gone, and its locks with it.
            return false
        }
    }

    /// `pg_advisory_unlock` on the lock's own connection, which then goes back to the pool.
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let handle = grant.handle(as: PostgresLockHandle.self) else { return false }
        let lockConnection = handle.connection
        guard !lockConnection.isClosed else { return false }
        lockConnection.released()
        var notify: [String] = []
        if case .leadership(let group) = key { notify = [schema.channel, group.rawValue] }
        let released: Bool
        do {
            let connection = lockConnection.connection
            let doing = "release the \(key)"
            switch (handle.key, notify.isEmpty) {
            case (.pair(let first, let second), true):
                let statement = PostgresStatements.UnlockPair(first: first, second: second)
                released = try await connection.firstRow(statement, timeout: statementTimeout, doing: doing, logger: logger) == true
            case (.single(let key), true):
                let statement = PostgresStatements.UnlockSingle(key: key)
                released = try await connection.firstRow(statement, timeout: statementTimeout, doing: doing, logger: logger) == true
            case (_, false):
                let rows = try await connection.rows(
                    PostgresQuery(unsafeSQL: schema.release(handle.key, notifyParameter: 1), binds: Self.binds(strings: notify)),
                    timeout: statementTimeout, doing: doing, logger: logger
                )
                released = try rows.first?.value(0, as: Bool.self, "whether the lock was released") == true
            }
        } catch let error as ToozError where error.code == .connectionFailed {
            return false
        } catch {
            lockConnection.connection.closeNow()
            throw error
        }
        if released { checkin(lockConnection) } else { lockConnection.connection.closeNow() }
        return released
    }

    /// The member whose lock connection holds the key; `nil` when it is free or held by a
    /// session that is not ours (Python tooz's).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let advisory = PostgresAdvisoryKey.of(key, style: configuration.lockKeys)
        let rows = try await run(PostgresQuery(unsafeSQL: schema.holder(advisory)), doing: "read the holder of the \(key)")
        return try rows.first.map { MemberID(try $0.value(0, as: String.self, "a member id")) }
    }

    /// Ends the session holding the key (`pg_terminate_backend`), which frees it. Needs the
    /// holder's role or `pg_signal_backend`.
    public func breakLock(_ key: LockKey) async throws -> Bool {
        let advisory = PostgresAdvisoryKey.of(key, style: configuration.lockKeys)
        // Half the statement's own timeout: a holder that outlives it is reported, not waited for.
        let wait = max(Self.milliseconds(statementTimeout) / 2, 1)
        let rows = try await run(PostgresQuery(unsafeSQL: schema.breakLock(advisory, waitMilliseconds: wait)), doing: "break the \(key)")
        return try rows.first?.value(0, as: Int64.self, "how many holders were ended") ?? 0 > 0
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func binds(strings: [String]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: strings.count)
        for string in strings { binds.append(string) }
        return binds
    }
}
