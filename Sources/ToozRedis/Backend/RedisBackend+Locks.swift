import NIOCore
import Tooz

extension RedisBackend {
    /// A plain lock is `SET NX PX` and an `INCR` of the fencing counter, pipelined in one
    /// write: one round trip and no script, which the server runs in a quarter of the time of
    /// the same steps in Lua. The `INCR` runs even when the lock is busy; a token only has to
    /// grow with every acquisition, and the next holder's `INCR` comes after its `SET`, which
    /// comes after our release or expiry. A grant whose `INCR` the server ran after our lock had
    /// expired arrives after the TTL, and the core refuses such a grant. Leadership needs its
    /// win announced, and only a win: that one stays a script.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let lockKey = keys.lock(key)
        let value = Self.lockValue(of: owner)
        let fence: Int64
        switch key {
        case .lock:
            let replies = try await client.send([
                RedisCommand("SET", arguments: [lockKey, value, "NX", "PX", milliseconds(ttl)]),
                RedisCommand("INCR", keys.fencing),
            ])
            guard replies.count == 2 else {
                throw ToozError(.backendError, "\(client.target) answered two commands with \(replies.count) replies")
            }
            if let message = replies[0].errorMessage ?? replies[1].errorMessage {
                throw ToozError(.backendError, "\(client.target) refused a lock acquisition: \(message)")
            }
            if replies[0].isNull { return nil }
            guard replies[0].string == "OK", case .integer(let counter) = replies[1], counter > 0 else {
                throw ToozError(.backendError, "\(client.target) answered SET NX and INCR with something other than OK and a positive integer")
            }
            fence = counter
        case .leadership(let group):
            let script = RedisScripts.acquireLeadership
            let reply = try await client.evaluate(
                script, keys: [lockKey, keys.fencing],
                arguments: [value, milliseconds(ttl), keys.groupChangedChannel, group.rawValue]
            )
            fence = try integer(reply, from: script)
            guard fence > 0 else { return nil }
        }
        return LockGrant(owner: owner, fencingToken: FencingToken(UInt64(fence), strength: .failoverUnsafe))
    }

    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        let script = RedisScripts.refresh
        let reply = try await client.evaluate(
            script, keys: [keys.lock(key)], arguments: [Self.lockValue(of: grant.owner), milliseconds(ttl)]
        )
        return try integer(reply, from: script) == 1
    }

    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        let script = RedisScripts.release
        let (channel, group) = changeAnnouncement(for: key)
        let reply = try await client.evaluate(
            script,
            keys: [keys.lock(key)],
            arguments: [Self.lockValue(of: grant.owner), keys.releasedChannel, channel, group]
        )
        return try integer(reply, from: script) == 1
    }

    /// The member named in the lock's value. `nil` when the lock is free or held by a Python
    /// tooz member (whose value is a bare token).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let reply = try await client.request(RedisCommand("GET", keys.lock(key)))
        guard let value = reply.string else { return nil }
        return Self.holder(inLockValue: value)
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
            script, keys: [keys.lock(key)], arguments: [keys.releasedChannel, channel, group]
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

    /// What a lock key holds: the acquisition's token, a space, the member. Python tooz holds a
    /// bare token and only ever compares it with its own, so the member can ride along; a reader
    /// (`holder`, `leader(of:)`) then needs no second key, and nothing can make the two disagree.
    static func lockValue(of owner: LockOwner) -> String {
        owner.token + " " + owner.member.rawValue
    }

    /// The member in a lock value written by ``lockValue(of:)``; `nil` for anything else.
    static func holder(inLockValue value: String) -> MemberID? {
        guard let space = value.firstIndex(of: " ") else { return nil }
        let member = value[value.index(after: space)...]
        return member.isEmpty ? nil : MemberID(String(member))
    }
}
