import NIOCore
import Tooz

extension ZooKeeperBackend {
    /// kazoo's non-blocking acquire: create a contender node, hold the lock when it is first,
    /// delete it otherwise.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let clock = ContinuousToozClock()
        var grant = try await acquire(
            AcquireRequest(key: key, owner: owner, ttl: ttl, deadline: clock.now(), clock: clock, pollInterval: ttl)
        )
        // That moment is on a clock of our own; the caller stamps the grant on the coordinator's.
        grant?.validFrom = nil
        return grant
    }

    /// kazoo's lock recipe, natively: one contender node `<uuid>__lock__<seq>` for the whole
    /// wait, queued behind the lower sequences; the waiter watches only the contender just
    /// ahead of it, so a release wakes one waiter, in queue order. At the deadline, on an
    /// error or when the task is cancelled, the node is deleted: nothing stays queued.
    ///
    /// The uuid is the owner token, so after a create whose reply was lost with the connection,
    /// the node it made is found by its prefix and adopted instead of orphaned. The grant's
    /// handle is the node; its TTL is the session timeout the server granted, measured from the
    /// listing that showed us first.
    public func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        let client = try client()
        let key = request.key
        let recipe = paths.recipe(key)
        let uuid = ZooKeeperLockRecipe.uuid(from: request.owner.token)
        var node = try await createContender(key, uuid: uuid, member: request.owner.member, client)
        do {
            var first = true
            while true {
                let sentAt = request.clock.now()
                let children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
                if first {
                    node = try await adoptOldest(of: uuid, in: children, recipe: recipe, created: node, client)
                    first = false
                }
                let contenders = ZooKeeperLockRecipe.contenders(children)
                let name = ZooKeeperPaths.name(of: node.path)
                guard let index = contenders.firstIndex(of: name) else {
                    // Our node went with an expired session: queue again.
                    node = try await createContender(key, uuid: uuid, member: request.owner.member, client)
                    first = true
                    continue
                }
                if index == 0 {
                    return LockGrant(
                        owner: request.owner, fencingToken: FencingToken(UInt64(bitPattern: node.czxid), strength: .linearizable),
                        handle: node, ttl: client.session?.timeout, validFrom: sentAt
                    )
                }
                let now = request.clock.now()
                if request.hasExpired(at: now) {
                    try? await deleteIgnoringMissing(node.path, client)
                    return nil
                }
                // The watch wakes us; the re-check after a poll interval is a safety net.
                let nap = request.deadline.map { min($0 - now, request.pollInterval) } ?? request.pollInterval
                try await waitUntilGone(recipe + "/" + contenders[index - 1], timeout: nap, client)
            }
        } catch {
            // Never leave a contender behind: it would block everyone until our session ends. A
            // cancelled task's request would not go out, so that delete is sent without waiting.
            if Task.isCancelled {
                client.deleteWithoutWaiting(node.path)
            } else if (try? await deleteIgnoringMissing(node.path, client)) == nil {
                client.deleteWithoutWaiting(node.path)
            }
            throw error
        }
    }

    /// Normally our create made exactly one node. More means an earlier create of this attempt
    /// was applied without our hearing of it: keep the oldest, delete the rest.
    private func adoptOldest(
        of uuid: String, in children: [String], recipe: String, created: HeldNode, _ client: ZooKeeperClient
    ) async throws -> HeldNode {
        var node = created
        let ours = ZooKeeperLockRecipe.nodes(of: uuid, in: children)
        if let oldest = ours.first, oldest != ZooKeeperPaths.name(of: node.path) {
            let adopted = recipe + "/" + oldest
            if let stat = try await client.exists(adopted) {
                try? await client.delete(node.path)
                node = HeldNode(path: adopted, czxid: stat.czxid)
            }
        }
        for extra in ours.dropFirst() where recipe + "/" + extra != node.path {
            try? await client.delete(recipe + "/" + extra)
        }
        return node
    }

    /// Creates the contender node (and its persistent parents on first use), or
    /// adopts the node an earlier create of this attempt made when its reply was lost.
    private func createContender(_ key: LockKey, uuid: String, member: MemberID, _ client: ZooKeeperClient) async throws -> HeldNode {
        let recipe = paths.recipe(key)
        let prefix = recipe + "/" + ZooKeeperLockRecipe.nodePrefix(for: uuid)
        let data = Array(member.rawValue.utf8)
        var attempts = 0
        var createTried = false
        while true {
            attempts += 1
            do {
                if createTried, let found = try await findContender(of: uuid, in: recipe, client) { return found }
                createTried = true
                let (path, stat) = try await client.createWithStat(prefix, data: data, mode: .ephemeralSequential)
                return HeldNode(path: path, czxid: stat.czxid)
            } catch where Self.code(error) == .noNode && attempts < 4 {
                createTried = false
                // kazoo's ensure_path: the recipe node and its parents (for a leadership,
                // the group too, as tooz's campaign does).
                try await client.ensurePath(recipe)
            } catch where Self.code(error) == .connectionLoss && attempts < 4 {
                // The create may have been applied: the next round looks for it first.
                continue
            }
        }
    }

    private func findContender(of uuid: String, in recipe: String, _ client: ZooKeeperClient) async throws -> HeldNode? {
        let children: [String]
        do {
            children = try await client.getChildren(recipe).children
        } catch where Self.code(error) == .noNode {
            return nil
        }
        for name in ZooKeeperLockRecipe.nodes(of: uuid, in: children) {
            if let stat = try await client.exists(recipe + "/" + name) {
                return HeldNode(path: recipe + "/" + name, czxid: stat.czxid)
            }
        }
        return nil
    }

    private func deleteIgnoringMissing(_ path: String, _ client: ZooKeeperClient) async throws {
        do {
            try await client.delete(path)
        } catch where Self.code(error) == .noNode {
        }
    }

    /// `exists` on our node: there with our czxid → still ours; gone, or our session expired →
    /// revoked (`false`); the connection is down → throws, so the lease turns uncertain and is
    /// lost at its safe deadline, as the session itself would be.
    public func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        guard let node = grant.handle(as: HeldNode.self) else { return false }
        let client = try client()
        do {
            guard let stat = try await client.exists(node.path), stat.czxid == node.czxid else { return false }
            return true
        } catch let error as ToozError where error.code == .leaseLost {
            return false
        }
    }

    /// Deletes our node. `false` when it was gone already (broken, or our session expired).
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let node = grant.handle(as: HeldNode.self) else { return false }
        let client = try client()
        do {
            // The path is ours alone: the server never hands out a sequential name twice, so
            // deleting it needs no prior read (kazoo's release is the same single delete).
            try await client.delete(node.path)
            return true
        } catch where Self.code(error) == .noNode {
            return false
        } catch let error as ToozError where error.code == .leaseLost {
            return false
        }
    }

    /// The first contender's data (kazoo: `contenders()[0]`). Only reads: a missing recipe or
    /// group means nobody holds it, and nothing is created (tooz's `get_leader` creates both).
    public func holder(of key: LockKey) async throws -> MemberID? {
        let client = try client()
        let recipe = paths.recipe(key)
        var watcher: ZooKeeperWatcher?
        if case .leadership(let group) = key {
            watcher = watches.arm(recipe, for: group)
        }
        for _ in 0..<5 {
            let children: [String]
            do {
                children = try await retryingConnectionLoss { [watcher] in try await client.getChildren(recipe, watcher: watcher).children }
            } catch {
                if watcher != nil { watches.disarm(recipe) }
                if Self.code(error) == .noNode { return nil }
                throw error
            }
            watcher = nil
            guard let first = ZooKeeperLockRecipe.contenders(children).first else { return nil }
            do {
                let (data, _) = try await client.getData(recipe + "/" + first)
                return MemberID(String(decoding: data, as: UTF8.self))
            } catch where Self.code(error) == .noNode {
                // Released between the listing and the read: list again.
                continue
            }
        }
        return nil
    }

    /// Returns when the node at `path` is deleted, or after `timeout`. Waiters on one node
    /// share one watch.
    private func waitUntilGone(_ path: String, timeout: Duration, _ client: ZooKeeperClient) async throws {
        let (watch, register) = watches.holderWatch(path)
        if register {
            do {
                guard try await client.exists(path, watcher: watch.watcher) != nil else { return }
            } catch {
                watches.forgetHolderWatch(path, watch)
                throw error
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await watch.event() }
            group.addTask { try await Task.sleep(for: timeout) }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Deletes the holder's node (kazoo has no `break_`). Only that node goes, so a lock that
    /// changed hands in between is not broken twice; returns `false` when nobody held it.
    public func breakLock(_ key: LockKey) async throws -> Bool {
        let client = try client()
        let recipe = paths.recipe(key)
        for _ in 0..<5 {
            let children: [String]
            do {
                children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
            } catch where Self.code(error) == .noNode {
                return false
            }
            guard let first = ZooKeeperLockRecipe.contenders(children).first else { return false }
            do {
                try await client.delete(recipe + "/" + first)
                return true
            } catch where Self.code(error) == .noNode {
                continue
            }
        }
        return false
    }

}
