import NIOCore
import Tooz

extension ZooKeeperBackend {
    /// One attempt with kazoo's recipe: create our contender node (or find the one this owner
    /// queued on an earlier attempt), list the contenders, and hold the lock when ours is first.
    /// Otherwise the node stays queued for this owner: the core waits with
    /// ``waitForRelease(of:owner:timeout:)`` (a watch on the contender just ahead, kazoo's way)
    /// and tries again, or gives up with ``abandonAcquisition(of:owner:)``, which deletes it.
    ///
    /// The node is `<uuid>__lock__<seq>`, with the owner token as the uuid: fresh for each
    /// attempt, so after a create whose reply was lost with the connection, the node it made is
    /// found by its prefix and adopted instead of leaving an orphaned contender behind.
    public func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        if case .leadership(let group) = key { try checkGroup(group) }
        let client = try client()
        let recipe = paths.recipe(key)
        let uuid = ZooKeeperLockRecipe.uuid(from: owner.token)
        if let queued = withState({ $0.queued[owner.token] }) {
            let children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
            let name = ZooKeeperPaths.name(of: queued.path)
            if children.contains(name) {
                guard ZooKeeperLockRecipe.contenders(children).first == name else { return nil }
                withState {
                    $0.queued[owner.token] = nil
                    $0.grants[owner.token] = queued
                }
                return LockGrant(owner: owner, fencingToken: FencingToken(UInt64(bitPattern: queued.czxid), strength: .linearizable))
            }
            // Gone with an expired session: queue again.
            withState { _ = $0.queued.removeValue(forKey: owner.token) }
        }
        var node = try await createContender(key, uuid: uuid, member: owner.member, client)
        do {
            let children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
            let ours = ZooKeeperLockRecipe.nodes(of: uuid, in: children)
            // Normally exactly one. More means an earlier create of this attempt was applied
            // without our hearing of it: keep the oldest, delete the rest.
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
            guard ZooKeeperLockRecipe.contenders(children).first == ZooKeeperPaths.name(of: node.path) else {
                withState { $0.queued[owner.token] = node }
                return nil
            }
        } catch {
            // Never leave a contender behind: it would block everyone until our session ends.
            try? await client.delete(node.path)
            throw error
        }
        withState { $0.grants[owner.token] = node }
        return LockGrant(owner: owner, fencingToken: FencingToken(UInt64(bitPattern: node.czxid), strength: .linearizable))
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
        guard let node = withState({ $0.grants[grant.owner.token] }) else { return false }
        let client = try client()
        do {
            guard let stat = try await client.exists(node.path), stat.czxid == node.czxid else {
                withState { _ = $0.grants.removeValue(forKey: grant.owner.token) }
                return false
            }
            return true
        } catch let error as ToozError where error.code == .leaseLost {
            withState { _ = $0.grants.removeValue(forKey: grant.owner.token) }
            return false
        }
    }

    /// Deletes our node. `false` when it was gone already (broken, or our session expired).
    public func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        guard let node = withState({ $0.grants.removeValue(forKey: grant.owner.token) }) else { return false }
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
            try checkGroup(group)
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

    /// Watches the holder's node (the first contender) and returns when it goes, or after
    /// `timeout`; at once when nobody holds the lock. For callers without a queued node.
    public func waitForRelease(of key: LockKey, timeout: Duration) async throws {
        let client = try client()
        let recipe = paths.recipe(key)
        let children: [String]
        do {
            children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
        } catch where Self.code(error) == .noNode {
            return
        }
        guard let first = ZooKeeperLockRecipe.contenders(children).first else { return }
        try await waitUntilGone(recipe + "/" + first, timeout: timeout, client)
    }

    /// kazoo's wait: watch only the contender just ahead of `owner`'s queued node, so that a
    /// release wakes one waiter, in queue order. Returns at once when ours is first or gone.
    public func waitForRelease(of key: LockKey, owner: LockOwner, timeout: Duration) async throws {
        guard let queued = withState({ $0.queued[owner.token] }) else {
            return try await waitForRelease(of: key, timeout: timeout)
        }
        let client = try client()
        let recipe = paths.recipe(key)
        let children: [String]
        do {
            children = try await retryingConnectionLoss { try await client.getChildren(recipe).children }
        } catch where Self.code(error) == .noNode {
            return
        }
        let contenders = ZooKeeperLockRecipe.contenders(children)
        guard let index = contenders.firstIndex(of: ZooKeeperPaths.name(of: queued.path)), index > 0 else { return }
        try await waitUntilGone(recipe + "/" + contenders[index - 1], timeout: timeout, client)
    }

    /// Leaves the queue: deletes the owner's queued node. From a cancelled task the delete is
    /// sent without waiting (a cancelled call would not go out at all).
    public func abandonAcquisition(of key: LockKey, owner: LockOwner) async {
        guard let queued = withState({ $0.queued.removeValue(forKey: owner.token) }), let client = try? client() else {
            return
        }
        if Task.isCancelled {
            client.deleteWithoutWaiting(queued.path)
            return
        }
        do {
            try await deleteIgnoringMissing(queued.path, client)
        } catch {
            client.deleteWithoutWaiting(queued.path)
        }
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

    public func changeSignal(for group: GroupID) -> ChangeBroadcast? { watches.signal(for: group) }
}
