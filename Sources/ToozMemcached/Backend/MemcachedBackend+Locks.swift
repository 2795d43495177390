#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Tooz

extension MemcachedBackend {
    /// tooz's `add` of the lock key (the member id, for the lock's TTL) and our fencing
    /// counter's increment, pipelined: one round trip. The counter is created at the current
    /// time in microseconds, so that after a server restart (which loses it) new tokens still
    /// exceed the old ones, as long as the clients' clocks roughly agree; the increment also
    /// runs when the lock is busy, which only skips numbers.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let seconds = MemcachedTTL.seconds(for: ttl)
        let lockKey = MemcachedKeys.lock(key)
        let replies = try await client.send([
            MemcachedRequest.set(
                lockKey, value: Array(owner.member.rawValue.utf8), clientFlags: MemcachedKeys.Flags.bytes, ttl: seconds,
                mode: .add, returnCAS: true
            ),
            MemcachedRequest.increment(MemcachedKeys.fence(key), initial: Self.microsecondsSinceEpoch()),
        ])
        guard replies.count == 2 else {
            throw ToozError(.backendError, "\(client.target) answered a pipeline of 2 with \(replies.count) replies")
        }
        switch replies[0].status {
        case .notStored: return nil
        case .stored: break
        default: throw unexpected(replies[0], to: "the acquisition of \(key)")
        }
        guard let cas = replies[0].cas else {
            throw ToozError(.backendError, "\(client.target) stored \(key) without returning its CAS")
        }
        guard replies[1].status == .value, let text = replies[1].value.flatMap({ String(validating: $0, as: UTF8.self) }),
            let fence = UInt64(text)
        else {
            // Held without a token is not a grant: hand the lock back before failing.
            _ = try? await client.send(MemcachedRequest.delete(lockKey, compareCAS: cas))
            throw ToozError(
                .backendError,
                "\(client.target) did not count the fencing token of \(key) (\(replies[1].status)); the lock was given back"
            )
        }
        return LockGrant(
            owner: owner, fencingToken: FencingToken(fence, strength: .bestEffort),
            handle: MemcachedLockHandle(cas: cas), ttl: MemcachedTTL.guaranteed(seconds: seconds)
        )
    }

    /// Stores the lock item again with a new TTL, only if its CAS is still the one our grant
    /// stored: a lock that expired and went to someone else is never extended. (tooz touches
    /// whatever is there.)
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let handle = grant.handle(as: MemcachedLockHandle.self) else { return false }
        let lockKey = MemcachedKeys.lock(key)
        let seconds = MemcachedTTL.seconds(for: ttl)
        let member = Array(grant.owner.member.rawValue.utf8)
        return try await handle.exclusive { cas in
            let reply = try await self.client.send(
                MemcachedRequest.set(
                    lockKey, value: member, clientFlags: MemcachedKeys.Flags.bytes, ttl: seconds, compareCAS: cas,
                    returnCAS: true
                )
            )
            switch reply.status {
            case .stored: return (true, reply.cas)
            case .exists, .notFound: return (false, nil)
            default: throw self.unexpected(reply, to: "the refresh of \(key)")
            }
        }
    }

    /// Deletes the lock item only if its CAS is our grant's: never another holder's lock
    /// (tooz's release is a `get` and a `delete`, which can delete the next holder's).
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let handle = grant.handle(as: MemcachedLockHandle.self) else { return false }
        let lockKey = MemcachedKeys.lock(key)
        defer { Self.releases.notify { releaseSignalKey(lockKey) } }
        return try await handle.exclusive { cas in
            let reply = try await self.client.send(MemcachedRequest.delete(lockKey, compareCAS: cas))
            switch reply.status {
            case .stored: return (true, nil)
            case .exists, .notFound: return (false, nil)
            default: throw self.unexpected(reply, to: "the release of \(key)")
            }
        }
    }

    /// The member id in the lock item: tooz's layout, so a Python holder is named too.
    public func holder(of key: LockKey) async throws -> MemberID? {
        let reply = try await client.send(MemcachedRequest.get(MemcachedKeys.lock(key), clientFlags: false, cas: false))
        switch reply.status {
        case .miss: return nil
        case .value:
            guard let name = reply.value.flatMap({ String(validating: $0, as: UTF8.self) }), !name.isEmpty else {
                throw ToozError(.backendError, "the holder of \(key) is not a UTF-8 member id")
            }
            return MemberID(name)
        default: throw unexpected(reply, to: "a read of \(key)")
        }
    }

    public func breakLock(_ key: LockKey) async throws -> Bool {
        let lockKey = MemcachedKeys.lock(key)
        let reply = try await client.send(MemcachedRequest.delete(lockKey))
        Self.releases.notify { releaseSignalKey(lockKey) }
        switch reply.status {
        case .stored: return true
        case .notFound: return false
        default: throw unexpected(reply, to: "breaking \(key)")
        }
    }

    /// memcached cannot tell a waiter that a lock was freed: the waiter looks at the lock item,
    /// first 1 ms after a busy attempt, then twice as long each time, up to the coordinator's
    /// lock poll interval (50 ms by default; tooz backs off to 1 s). A release by this process
    /// wakes its waiters at once.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        let waiter = MemcachedLockWaiter(longest: request.pollInterval)
        return try await pollingAcquire(request) { nap in
            try await self.waitForRelease(of: request.key, timeout: nap, waiter: waiter, clock: request.clock)
        }
    }

    private func waitForRelease(of key: LockKey, timeout: Duration, waiter: MemcachedLockWaiter, clock: any ToozClock) async throws {
        let lockKey = MemcachedKeys.lock(key)
        let signalKey = releaseSignalKey(lockKey)
        let signal = Self.releases.subscribe(signalKey)
        defer { Self.releases.unsubscribe(signalKey) }
        let deadline = clock.now() + timeout
        let look = try MemcachedRequest.get(lockKey, value: false, clientFlags: false, cas: false)
        while true {
            let seen = signal.generation
            let pause = waiter.nextPause()
            let left = deadline - clock.now()
            guard left > .zero else { return }
            if try await signal.wait(since: seen, timeout: min(pause, left), clock: clock) { return }
            if try await client.send(look).status == .miss { return }
        }
    }

    private func releaseSignalKey(_ lockKey: String) -> String {
        client.target + " " + lockKey
    }

    static func microsecondsSinceEpoch() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(max(0, now.tv_sec)) * 1_000_000 + UInt64(max(0, now.tv_nsec)) / 1_000
    }
}

/// One acquisition's polling pace: 1 ms, doubling up to `longest`.
final class MemcachedLockWaiter: Sendable {
    private let pause = Mutex<Duration>(.milliseconds(1))
    private let longest: Duration

    init(longest: Duration) {
        self.longest = max(longest, .milliseconds(1))
    }

    func nextPause() -> Duration {
        pause.withLock { pause in
            defer { pause = min(pause * 2, longest) }
            return pause
        }
    }
}
