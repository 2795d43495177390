/// A consistent hash ring that places keys exactly where Python tooz's `HashRing` does.
///
/// This is tooz's md5 ring, bit for bit, so a Swift and a Python partitioner that see the same
/// nodes, weights and partition count agree on every placement:
///
/// - a node with weight `w` owns `partitions × w` points; point `r` is the MD5 of the node's
///   UTF-8 bytes repeated `r + 2` times, read as a 128-bit big-endian integer;
/// - a key lands on the first point strictly greater than the MD5 of its bytes, wrapping round
///   the ring, and further replicas are the next distinct nodes walking forward.
///
/// Two points that collide belong to the node added last, as with Python's dict. Placements
/// carry no order, so lookups return a `Set`.
public struct HashRing: Sendable {
    /// A point on the ring: the 128-bit big-endian value of an MD5 digest.
    struct Point: Hashable, Comparable, Sendable {
        var high: UInt64
        var low: UInt64

        init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        init(_ hasher: MD5) {
            (high, low) = hasher.finalizeBigEndian()
        }

        static func < (lhs: Point, rhs: Point) -> Bool {
            (lhs.high, lhs.low) < (rhs.high, rhs.low)
        }
    }

    /// The number of points per unit of weight. tooz: `partitions` (default 32).
    public let partitions: Int

    /// Every node on the ring, with its weight. tooz: `HashRing.nodes`.
    public private(set) var nodes: [String: Int] = [:]

    /// Python's `_ring` dict and its sorted `_partitions`, kept as two parallel arrays: the
    /// points in ascending order and the owner of each. A lookup is one binary search and a
    /// short walk, and a change merges or filters in linear time instead of re-sorting.
    private(set) var sortedPoints: [Point] = []
    private(set) var sortedOwners: [String] = []

    /// Creates a ring holding `nodes`, each with weight 1.
    ///
    /// - Parameters:
    ///   - nodes: The initial nodes; duplicates are ignored, as tooz adds `set(nodes)`.
    ///   - partitions: Points per unit of weight. Python tooz defaults to 32, and every process
    ///     sharing placements must use the same value.
    public init(nodes: some Sequence<String> = [], partitions: Int = 32) {
        self.partitions = partitions
        var seen = Set<String>()
        for node in nodes where seen.insert(node).inserted {
            insertPoints(of: node, weight: 1)
            self.nodes[node] = 1
        }
    }

    /// The number of points on the ring: `partitions × Σweights` unless two points collided.
    /// tooz: `len(ring)`.
    public var pointCount: Int { sortedPoints.count }

    /// Adds `node` with `weight`, so it receives about `weight / Σweights` of the keys.
    ///
    /// Adding a node that is already present replaces its weight. (Python tooz leaves the extra
    /// points of a lowered weight behind; here they are removed, which otherwise gives the same
    /// ring.) A weight of zero or less places the node on no point, as in tooz; such a node is
    /// listed in ``nodes`` but never chosen.
    public mutating func add(_ node: String, weight: Int = 1) {
        if let previous = nodes[node] {
            removePoints(of: node, weight: previous)
        }
        insertPoints(of: node, weight: weight)
        nodes[node] = weight
    }

    /// Removes `node` and its points.
    ///
    /// - Throws: ``ToozError`` with code ``ToozError/Code/invalidArgument`` when the node is not on
    ///   the ring (tooz: `UnknownNode`).
    public mutating func remove(_ node: String) throws(ToozError) {
        guard let weight = nodes.removeValue(forKey: node) else {
            throw ToozError(.invalidArgument, "Unknown node `\(node)'")
        }
        removePoints(of: node, weight: weight)
    }

    /// The nodes that `data` maps to. tooz: `get_nodes(data, ignore_nodes, replicas)`.
    ///
    /// - Parameters:
    ///   - data: The key's bytes.
    ///   - ignoring: Nodes to skip, for example members known to be down. Unknown names are
    ///     harmless.
    ///   - replicas: How many distinct nodes to return; capped at the number of nodes that are
    ///     not ignored.
    /// - Returns: Up to `replicas` nodes; empty when the ring is empty or every node is ignored.
    public func nodes(for data: some Sequence<UInt8>, ignoring: Set<String> = [], replicas: Int = 1) -> Set<String> {
        let candidates = nodes.keys.reduce(into: 0) { count, node in
            if !ignoring.contains(node) { count += 1 }
        }
        let wanted = min(replicas, candidates)
        guard wanted > 0, !sortedPoints.isEmpty else { return [] }

        let start = partition(of: Point(MD5(data)))
        var found = Set<String>()
        var index = start
        // tooz loops until it has enough nodes; stopping after one lap also ends the walk when
        // some candidates own no points (weight 0), where Python would spin forever.
        repeat {
            let owner = sortedOwners[index]
            if !ignoring.contains(owner) {
                found.insert(owner)
                if found.count == wanted { break }
            }
            index = index + 1 < sortedPoints.count ? index + 1 : 0
        } while index != start
        return found
    }

    /// The nodes a string key maps to, hashing its UTF-8 bytes.
    ///
    /// This matches tooz's `Partitioner` for a Python `str` (which it hashes as
    /// `str(obj).encode('utf8')`). Note that tooz hashes a Python `bytes` object through its
    /// repr, `"b'...'"`, so pass that text to agree with such callers.
    public func nodes(forKey key: String, ignoring: Set<String> = [], replicas: Int = 1) -> Set<String> {
        nodes(for: key.utf8, ignoring: ignoring, replicas: replicas)
    }

    /// The index of the first point strictly greater than `hash`, wrapping to 0 past the end
    /// (Python's `bisect.bisect` = `bisect_right`).
    func partition(of hash: Point) -> Int {
        var low = 0
        var high = sortedPoints.count
        while low < high {
            let middle = (low + high) / 2
            if hash < sortedPoints[middle] {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low < sortedPoints.count ? low : 0
    }

    /// The points of a node, in tooz's order: one running MD5 that has absorbed the key once,
    /// updated with the key again before each point is read.
    private func forEachPoint(of node: String, weight: Int, _ body: (Point) -> Void) {
        let count = partitions.multipliedReportingOverflow(by: weight)
        guard !count.overflow, count.partialValue > 0 else { return }
        let key = Array(node.utf8)
        key.withUnsafeBytes { bytes in
            var hasher = MD5()
            hasher.update(bytes)
            for _ in 0..<count.partialValue {
                hasher.update(bytes)
                body(Point(hasher))
            }
        }
    }

    /// Merges the node's points into the sorted arrays. A point that is already on the ring
    /// changes hands to `node`: the last writer wins, as with Python's dict.
    private mutating func insertPoints(of node: String, weight: Int) {
        var fresh: [Point] = []
        forEachPoint(of: node, weight: weight) { fresh.append($0) }
        guard !fresh.isEmpty else { return }
        fresh.sort()

        var points: [Point] = []
        var owners: [String] = []
        points.reserveCapacity(sortedPoints.count + fresh.count)
        owners.reserveCapacity(sortedPoints.count + fresh.count)
        var old = 0
        var new = 0
        while old < sortedPoints.count || new < fresh.count {
            if new == fresh.count || (old < sortedPoints.count && sortedPoints[old] < fresh[new]) {
                points.append(sortedPoints[old])
                owners.append(sortedOwners[old])
                old += 1
            } else {
                if old < sortedPoints.count && sortedPoints[old] == fresh[new] {
                    old += 1
                }
                if points.last != fresh[new] {
                    points.append(fresh[new])
                    owners.append(node)
                }
                new += 1
            }
        }
        sortedPoints = points
        sortedOwners = owners
    }

    /// Deletes the node's points from the ring. Like tooz, a point goes whoever holds it now
    /// (after a collision that is the later node); where tooz would then raise `KeyError` for a
    /// point already gone, there is simply nothing left to delete.
    private mutating func removePoints(of node: String, weight: Int) {
        var doomed = Set<Point>()
        forEachPoint(of: node, weight: weight) { doomed.insert($0) }
        guard !doomed.isEmpty else { return }
        var points: [Point] = []
        var owners: [String] = []
        points.reserveCapacity(sortedPoints.count)
        owners.reserveCapacity(sortedPoints.count)
        for index in sortedPoints.indices where !doomed.contains(sortedPoints[index]) {
            points.append(sortedPoints[index])
            owners.append(sortedOwners[index])
        }
        sortedPoints = points
        sortedOwners = owners
    }
}

extension HashRing: CustomStringConvertible {
    /// A short summary for logs: the nodes with their weights, and the number of points.
    public var description: String {
        let listed = nodes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
        return "HashRing(\(listed); \(pointCount) points)"
    }
}
