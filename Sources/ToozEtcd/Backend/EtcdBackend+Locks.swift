import Foundation
import Tooz

extension EtcdBackend {
    /// tooz's acquire, on our session lease: one transaction puts the key if it has never been
    /// created (`create_revision == 0`). The put's revision is the key's create revision: the
    /// fencing token, ordered by Raft.
    ///
    /// The value is the member id, a NUL and the owner token (Python reads none of it): a put
    /// whose answer was lost with the connection is found by its token and adopted, by this
    /// attempt or the next one of the same acquisition, instead of being left to block the lock
    /// for as long as our session lease lives.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let lockKey = EtcdKeys.lock(key)
        let value = Array(owner.member.rawValue.utf8) + [0] + Array(owner.token.utf8)
        return try await withSessionLease { lease in
            let request = EtcdOperations.txn(
                [EtcdOperations.compare(lockKey, .create, .equal, 0)],
                success: [EtcdOperations.put(lockKey, value: value, lease: lease.id)],
                failure: [EtcdOperations.range(lockKey)]
            )
            let response: Etcdserverpb_TxnResponse
            do {
                response = try await client.txn(request)
            } catch let error as ToozError where error.code == .connectionFailed || error.code == .timedOut {
                let found = try? await client.range(EtcdOperations.rangeRequest(lockKey)).kvs.first
                guard let found, found.value == Data(value) else { throw error }
                return grant(owner, createRevision: found.createRevision, lease: lease)
            }
            if response.succeeded { return grant(owner, createRevision: response.header.revision, lease: lease) }
            if let found = response.kvs(at: 0).first, found.value == Data(value) {
                return grant(owner, createRevision: found.createRevision, lease: lease)
            }
            return nil
        }
    }

    private func grant(_ owner: LockOwner, createRevision: Int64, lease: EtcdSessionLease) -> LockGrant {
        LockGrant(
            owner: owner, fencingToken: FencingToken(UInt64(createRevision), strength: .linearizable),
            handle: EtcdLockHandle(lease: lease.id, createRevision: createRevision),
            // The key lives as long as the lease, which the server keeps at least its TTL after
            // the last request that proved it.
            ttl: lease.ttl, validFrom: lease.provenAt
        )
    }

    /// Keeps the session lease alive and reads the key, at once: ours while it is there with
    /// our create revision on our lease.
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let handle = grant.handle(as: EtcdLockHandle.self) else { return false }
        guard let lease = sessionIfCurrent(handle.lease) else { return false }
        async let alive = keepAlive(lease)
        async let read = client.range(EtcdOperations.rangeRequest(EtcdKeys.lock(key)))
        guard try await alive, let kv = try await read.kvs.first else { return false }
        return kv.createRevision == handle.createRevision && kv.lease == handle.lease
    }

    /// Deletes the key if it is still the one we created: never the next holder's.
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let handle = grant.handle(as: EtcdLockHandle.self) else { return false }
        let lockKey = EtcdKeys.lock(key)
        let response = try await client.txn(
            EtcdOperations.txn([EtcdOperations.compare(lockKey, .create, .equal, handle.createRevision)], success: [EtcdOperations.delete(lockKey)])
        )
        return response.succeeded
    }

    /// The member id in the key's value, when the value is ours (`<member id> NUL <owner
    /// token>`). A Python holder's value is 16 random bytes: then the holder cannot be known.
    public func holder(of key: LockKey) async throws -> MemberID? {
        let response = try await client.range(EtcdOperations.rangeRequest(EtcdKeys.lock(key)))
        return response.kvs.first.flatMap { Self.member(inLockValue: Array($0.value)) }
    }

    /// The member of a lock value in our format, or `nil` for any other value.
    static func member(inLockValue value: [UInt8]) -> MemberID? {
        guard let separator = value.lastIndex(of: 0) else { return nil }
        let token = value[(separator + 1)...]
        let isHex = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) }
        guard separator > 0, token.count == 32, token.allSatisfy(isHex),
            let name = String(validating: value[..<separator], as: UTF8.self)
        else { return nil }
        return MemberID(name)
    }

    /// tooz's `break_`: a plain delete of whoever holds it.
    public func breakLock(_ key: LockKey) async throws -> Bool {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(EtcdKeys.lock(key))
        return try await client.deleteRange(request).deleted > 0
    }

    /// The session lease if `id` is still it; `nil` when that lease has been replaced (it
    /// expired, and with it every key on it).
    func sessionIfCurrent(_ id: Int64) -> EtcdSessionLease? {
        guard let lease = currentSession, lease.id == id else { return nil }
        return lease
    }
}
