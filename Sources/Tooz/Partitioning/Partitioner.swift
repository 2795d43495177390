import Logging
import Synchronization

/// Spreads objects over the live members of a group with tooz's md5 ``HashRing``, so Python and
/// Swift members place the same keys on the same members. tooz: `Partitioner`.
///
/// The ring follows the group's ``GroupEvents`` inside ``Coordinator/run()``: a member that joins
/// is added with the `weight` from its capabilities (1 when absent), one that leaves is removed.
public final class Partitioner: Sendable {
    /// The group whose members share the objects.
    public let group: GroupID
    /// Points per unit of weight (tooz's `partitions`, 32 by default).
    public let partitions: Int
    private let coordinator: Coordinator
    private let ring: Mutex<HashRing>
    private let stopped = ChangeBroadcast()

    package init(group: GroupID, partitions: Int, members: [MemberID: Capabilities], coordinator: Coordinator) {
        self.group = group
        self.partitions = partitions
        self.coordinator = coordinator
        var ring = HashRing(nodes: [String](), partitions: partitions)
        for (member, capabilities) in members {
            ring.add(member.rawValue, weight: Partitioner.weight(from: capabilities))
        }
        self.ring = Mutex(ring)
    }

    /// The members that own `key` (the UTF-8 bytes of the string, as Python's `str(obj)`).
    /// tooz: `members_for_object`.
    public func members(for key: String, ignoring: Set<MemberID> = [], replicas: Int = 1) -> Set<MemberID> {
        members(forBytes: Array(key.utf8), ignoring: ignoring, replicas: replicas)
    }

    /// The members that own an object whose `__tooz_hash__` is `bytes`.
    public func members(forBytes bytes: [UInt8], ignoring: Set<MemberID> = [], replicas: Int = 1) -> Set<MemberID> {
        let ignoredNames = Set(ignoring.map(\.rawValue))
        let names: Set<String> = ring.withLock { ring in ring.nodes(for: bytes, ignoring: ignoredNames, replicas: replicas) }
        return Set(names.map { MemberID($0) })
    }

    /// Whether `member` owns `key`. tooz: `belongs_to_member`.
    public func belongs(_ key: String, to member: MemberID, ignoring: Set<MemberID> = [], replicas: Int = 1) -> Bool {
        members(for: key, ignoring: ignoring, replicas: replicas).contains(member)
    }

    /// Whether this member owns `key`. tooz: `belongs_to_self`.
    public func belongsToSelf(_ key: String, ignoring: Set<MemberID> = [], replicas: Int = 1) -> Bool {
        belongs(key, to: coordinator.member, ignoring: ignoring, replicas: replicas)
    }

    /// The members on the ring with their weights.
    public var weights: [MemberID: Int] {
        ring.withLock { ring in Dictionary(uniqueKeysWithValues: ring.nodes.map { (MemberID($0.key), $0.value) }) }
    }

    /// Stops following the group. tooz: `Partitioner.stop`.
    public func stop() { stopped.notifyAll() }

    static func weight(from capabilities: Capabilities) -> Int {
        guard let weight = capabilities["weight"]?.intValue, weight > 0 else { return 1 }
        return weight
    }

    package func apply(_ event: GroupEvent) {
        ring.withLock { ring in
            switch event {
            case .snapshot(let snapshot):
                var fresh = HashRing(nodes: [String](), partitions: partitions)
                for (member, capabilities) in snapshot.members {
                    fresh.add(member.rawValue, weight: Partitioner.weight(from: capabilities))
                }
                ring = fresh
            case .joined(let member, let capabilities):
                ring.add(member.rawValue, weight: Partitioner.weight(from: capabilities))
            case .left(let member):
                try? ring.remove(member.rawValue)
            case .capabilitiesChanged(let member, let capabilities):
                try? ring.remove(member.rawValue)
                ring.add(member.rawValue, weight: Partitioner.weight(from: capabilities))
            case .leaderChanged, .membershipChanged:
                break
            }
        }
    }

    /// Follows the group until stopped or until `run()` ends; restarts the event sequence after
    /// a backend error.
    package func follow() async {
        // `stopped` is fresh per partitioner, so any change from its initial generation means
        // stop() was called, possibly before run() got round to starting this job.
        let generation: UInt64 = 0
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.stopped.wait(since: generation) }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        for try await event in try self.coordinator.events(in: self.group) {
                            // The stop may win the race against this task's first read.
                            if self.stopped.generation != generation { return }
                            self.apply(event)
                        }
                        return
                    } catch {
                        self.coordinator.logger.debug("partitioner event stream failed; retrying", metadata: ["error": "\(error)"])
                        try? await self.coordinator.clock.sleep(for: self.coordinator.configuration.eventPollInterval)
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

extension Coordinator {
    /// Joins `group` (creating it when needed) with `weight` in its capabilities and returns a
    /// partitioner that follows the group. tooz: `join_partitioned_group`.
    public func joinPartitionedGroup(_ group: GroupID, weight: Int = 1, partitions: Int = 32) async throws -> Partitioner {
        guard weight > 0 else { throw ToozError(.invalidArgument, "a partition weight must be positive, not \(weight)") }
        try await joinCreatingGroup(group, capabilities: ["weight": .int(Int64(weight))])
        return try await partitioner(for: group, partitions: partitions)
    }

    /// A partitioner over the members of `group`, without joining it.
    ///
    /// - Throws: `groupNotCreated`, `notRunning`, `invalidArgument` for a non-positive `partitions`.
    public func partitioner(for group: GroupID, partitions: Int = 32) async throws -> Partitioner {
        guard partitions > 0 else { throw ToozError(.invalidArgument, "partitions must be positive, not \(partitions)") }
        let members = try await membersWithCapabilities(of: group)
        let partitioner = Partitioner(group: group, partitions: partitions, members: members, coordinator: self)
        guard host({ await partitioner.follow() }) else {
            throw ToozError(.notRunning, "the coordinator is stopping; a partitioner needs run()")
        }
        return partitioner
    }

    /// Leaves a partitioned group and stops its partitioner. tooz: `leave_partitioned_group`.
    public func leavePartitionedGroup(_ partitioner: Partitioner) async throws {
        partitioner.stop()
        try await leave(partitioner.group)
    }
}
