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

    public func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        guard await notifications.ensureSubscribed(using: client) else {
            try await Task.sleep(for: timeout)
            return
        }
        let lockKey = keys.lock(key)
        let signal = notifications.retainLockSignal(lockKey)
        defer { notifications.releaseLockSignal(lockKey) }
        let seen = signal.generation
        // A release between the caller's failed attempt and our subscription was not heard:
        // look once, now that anything later will be. PTTL also says when a holder that stopped
        // refreshing (crashed) runs out, which the server's expiry would only push later.
        let remaining = try await client.request(RedisCommand("PTTL", lockKey))
        guard let nap = RedisNotifications.nap(untilExpiryIn: remaining, atMost: timeout) else { return }
        _ = try await signal.wait(since: seen, timeout: nap, clock: ContinuousToozClock())
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
