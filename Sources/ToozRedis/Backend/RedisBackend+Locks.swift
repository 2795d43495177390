import NIOCore
import Tooz

extension RedisBackend {
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let script = RedisScripts.acquire
        let (channel, group) = changeAnnouncement(for: key)
        let reply = try await client.evaluate(
            script,
            keys: [keys.lock(key), keys.owner(key), keys.fencing],
            arguments: [owner.token, milliseconds(ttl), owner.member.rawValue, channel, group]
        )
        let fence = try integer(reply, from: script)
        guard fence > 0 else { return nil }
        return LockGrant(owner: owner, fencingToken: FencingToken(UInt64(fence), strength: .failoverUnsafe))
    }

    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        let script = RedisScripts.refresh
        let reply = try await client.evaluate(
            script, keys: [keys.lock(key), keys.owner(key)], arguments: [grant.owner.token, milliseconds(ttl)]
        )
        return try integer(reply, from: script) == 1
    }

    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        let script = RedisScripts.release
        let (channel, group) = changeAnnouncement(for: key)
        let reply = try await client.evaluate(
            script,
            keys: [keys.lock(key), keys.owner(key)],
            arguments: [grant.owner.token, keys.releasedChannel, channel, group]
        )
        return try integer(reply, from: script) == 1
    }

    /// The member in the owner record, when that record belongs to the token in the lock.
    /// `nil` when the lock is free or held by a Python tooz member (which writes no owner record).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let reply = try await client.request(RedisCommand("MGET", keys.lock(key), keys.owner(key)))
        guard case .array(.some(let values)) = reply, values.count == 2 else {
            throw ToozError(.backendError, "\(client.target) answered MGET with something other than two values")
        }
        guard let token = values[0].string, let record = values[1].string,
            let space = record.firstIndex(of: " "), record[..<space] == token
        else { return nil }
        return MemberID(String(record[record.index(after: space)...]))
    }

    /// The try/wait loop, woken by client tracking when the lock key changes (whoever changes
    /// it), and by the key's own TTL: `PTTL` says when a holder that stopped refreshing (crashed)
    /// runs out, which the server's expiry would only push up to 100 ms later. The subscription
    /// is taken on the first wait, so an uncontended acquisition costs nothing more.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        let lockKey = keys.lock(request.key)
        let waiter = RedisLockWaiter()
        defer { waiter.subscription?.cancel() }
        return try await pollingAcquire(request) { nap in
            if waiter.subscription == nil {
                guard let subscription = try await self.subscribe(to: .lock(request.key)) else {
                    try await request.clock.sleep(for: nap)
                    return
                }
                waiter.subscription = subscription
            }
            guard let signal = waiter.subscription?.signal else { return }
            // Brings the listener back if it dropped since (its drop woke us).
            guard await self.notifications.ensureSubscribed(using: self.client) else {
                try await request.clock.sleep(for: nap)
                return
            }
            let seen = signal.generation
            // Anything from now on wakes the signal; look once at what happened before.
            let remaining = try await self.client.request(RedisCommand("PTTL", lockKey))
            guard let wait = RedisNotifications.nap(untilExpiryIn: remaining, atMost: nap) else { return }
            _ = try await signal.wait(since: seen, timeout: wait, clock: request.clock)
        }
    }

    public func breakLock(_ key: LockKey) async throws -> Bool {
        let script = RedisScripts.breakLock
        let (channel, group) = changeAnnouncement(for: key)
        let reply = try await client.evaluate(
            script, keys: [keys.lock(key), keys.owner(key)], arguments: [keys.releasedChannel, channel, group]
        )
        return try integer(reply, from: script) == 1
    }

    /// Leadership changes are group changes: the scripts announce them on the group channel.
    private func changeAnnouncement(for key: LockKey) -> (channel: String, group: String) {
        switch key {
        case .lock: ("", "")
        case .leadership(let group): (keys.groupChangedChannel, group.rawValue)
        }
    }
}
