import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 and swift-tooz place keys on the same members: the bare hash ring, and
/// partitioners following one live file:// group with weighted Python and Swift members.
@Suite("Interop: placement with Python tooz", .requiresPythonTooz, .timeLimit(.minutes(3)))
struct PartitionerInteropTests {
    static let keyCount = 10_000
    static let keyPrefix = "key-"

    /// Where Swift and Python disagree, as a short readable list (empty when they agree).
    static func disagreements(swift: [Set<String>], python: [Set<String>], limit: Int = 5) -> [String] {
        guard swift.count == python.count else { return ["Swift placed \(swift.count) keys, Python \(python.count)"] }
        var found: [String] = []
        var total = 0
        for index in swift.indices where swift[index] != python[index] {
            total += 1
            if found.count < limit {
                found.append("\(keyPrefix)\(index): Swift \(swift[index].sorted()), Python \(python[index].sorted())")
            }
        }
        if total > found.count { found.append("… \(total) keys in all") }
        return found
    }

    @Test("HashRing places 10,000 keys as tooz's HashRing does", arguments: [1, 2, 3])
    func hashRing(replicas: Int) async throws {
        // Weighted, non-ASCII and look-alike names, with tooz's default of 32 partitions.
        let nodes = ["alpha": 1, "beta": 3, "gamma": 2, "ünïcødé-node": 1, "node-10": 5, "node-1": 1]
        try await TemporaryDirectory.with("ring") { directory in
            try await PythonPeer.with("ring", in: directory) { python in
                let fromPython = try await python.hashRingPlacement(
                    nodes: nodes, prefix: Self.keyPrefix, count: Self.keyCount, replicas: replicas
                )
                var ring = HashRing(partitions: 32)
                for (node, weight) in nodes { ring.add(node, weight: weight) }
                #expect(ring.pointCount == 32 * nodes.values.reduce(0, +))
                let fromSwift = (0..<Self.keyCount).map { ring.nodes(forKey: "\(Self.keyPrefix)\($0)", replicas: replicas) }
                #expect(fromSwift.allSatisfy { $0.count == replicas })
                let differences = Self.disagreements(swift: fromSwift, python: fromPython)
                #expect(differences.isEmpty, "placements differ:\n\(differences.joined(separator: "\n"))")
            }
        }
    }

    @Test("Partitioners on one file:// group place 10,000 keys identically in Swift and Python")
    func partitioner() async throws {
        try await TemporaryDirectory.with("partitioner") { directory in
            let url = directory.steadyFileURL
            let group = uniqueName("partitioned")
            let swiftMember = uniqueName("swift")
            let pythonMembers = [uniqueName("py-a"), uniqueName("py-b")]
            let weights = [swiftMember: 2, pythonMembers[0]: 3, pythonMembers[1]: 1]

            try await PythonPeer.with("py-a", in: directory) { pythonA in
                try await PythonPeer.with("py-b", in: directory) { pythonB in
                    try await pythonA.start(url: url, member: pythonMembers[0])
                    try await pythonB.start(url: url, member: pythonMembers[1])
                    let coordinator = try Coordinator(url: url, member: MemberID(swiftMember))
                    try await coordinator.withRunning {
                        // Python creates the group (join_partitioned_group = join_group_create with
                        // {'weight': w}); Swift joins it; the second Python member joins last, so
                        // both the Swift and the first Python partitioner must follow a join.
                        try await pythonA.joinPartitionedGroup(group, weight: 3)
                        let partitioner = try await coordinator.joinPartitionedGroup(GroupID(group), weight: 2)
                        try await pythonB.joinPartitionedGroup(group, weight: 1)

                        let expected = Dictionary(uniqueKeysWithValues: weights.map { (MemberID($0.key), $0.value) })
                        // The Swift partitioner follows the group's events (polled on file://).
                        try await eventually("the Swift partitioner to see the group (now \(partitioner.weights))") {
                            partitioner.weights == expected
                        }
                        #expect(try await coordinator.membersWithCapabilities(of: GroupID(group)).mapValues { $0["weight"]?.intValue } == expected.mapValues { Optional($0) })

                        let fromSwift = (0..<Self.keyCount).map { index in
                            Set(partitioner.members(for: "\(Self.keyPrefix)\(index)").map(\.rawValue))
                        }
                        #expect(fromSwift.allSatisfy { $0.count == 1 })
                        // A partitioner made now from the members reads the same ring.
                        let fresh = try await coordinator.partitioner(for: GroupID(group))
                        #expect(fresh.weights == expected)
                        fresh.stop()

                        for python in [pythonA, pythonB] {
                            let (nodes, fromPython) = try await python.partitionerPlacement(
                                group, prefix: Self.keyPrefix, count: Self.keyCount
                            )
                            #expect(nodes == weights, "Python \(python.name)'s ring: \(nodes)")
                            let differences = Self.disagreements(swift: fromSwift, python: fromPython)
                            #expect(differences.isEmpty, "Swift vs Python \(python.name):\n\(differences.joined(separator: "\n"))")
                        }

                        // Every member owns some keys, about in proportion to its weight.
                        let counts = fromSwift.reduce(into: [String: Int]()) { counts, owners in
                            for owner in owners { counts[owner, default: 0] += 1 }
                        }
                        #expect(Set(counts.keys) == Set(weights.keys))
                        try await coordinator.leavePartitionedGroup(partitioner)
                    }
                }
            }
        }
    }
}
