import Testing

@testable import Tooz

/// Placements checked against Python tooz 9.1.0's `tooz.hashring.HashRing` (md5, 32 partitions
/// unless stated). See the reference, §1.12 and §3.2 (test_hashring).
@Suite struct HashRingTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func point(_ hex: String) -> HashRing.Point {
        let padded = String(repeating: "0", count: 32 - hex.count) + hex
        return HashRing.Point(high: UInt64(padded.prefix(16), radix: 16)!, low: UInt64(padded.suffix(16), radix: 16)!)
    }

    // MARK: Points

    /// Point r of a node is md5(node × (r + 2)): for `foo`, md5("foofoo") then md5("foofoofoo").
    @Test func pointsOfANode() {
        let ring = HashRing(nodes: ["foo"], partitions: 2)
        #expect(ring.pointCount == 2)
        #expect(ring.sortedPoints == [point("216d7c020d0732def6775af81f6dc44f"), point("fdba98970961edb29f88241b9d99d890")])
        #expect(ring.sortedOwners == ["foo", "foo"])
    }

    @Test func firstPointsOfThreeNodes() {
        let ring = HashRing(nodes: ["foo", "bar", "baz"])
        #expect(ring.pointCount == 96)
        #expect(Array(ring.sortedPoints.prefix(5)) == [
            point("e16c3adae34ac26db8a76ffcafb639b"), point("f27b32c7bac569054f7c58cc53bfc01"),
            point("10856db2ee5233a8494dce223e22e82b"), point("111b45ded59dd40e8e54f250c1048966"),
            point("183678e9d5b409bc1be699fdb8f00d7c"),
        ])
        #expect(Array(ring.sortedOwners.prefix(5)) == ["bar", "baz", "bar", "bar", "foo"])
        // int(md5(b'fake')) = 26982377804022547213425711119629984148 sits before the fifth point.
        #expect(ring.partition(of: HashRing.Point(MD5(bytes("fake")))) == 4)
    }

    /// A hash at or past the last point wraps to the first one (bisect_right, then 0).
    @Test func bisectRightAndWrap() {
        let ring = HashRing(nodes: ["foo"], partitions: 2)
        let low = point("216d7c020d0732def6775af81f6dc44f")
        let high = point("fdba98970961edb29f88241b9d99d890")
        #expect(ring.partition(of: point("0")) == 0)
        #expect(ring.partition(of: low) == 1, "equal to a point goes past it")
        #expect(ring.partition(of: point("216d7c020d0732def6775af81f6dc450")) == 1)
        #expect(ring.partition(of: high) == 0, "equal to the last point wraps")
        #expect(ring.partition(of: point("ffffffffffffffffffffffffffffffff")) == 0)
    }

    // MARK: Placements (reference §1.12)

    @Test func placementsOfThreeNodes() {
        let ring = HashRing(nodes: ["foo", "bar", "baz"])
        #expect(ring.nodes(for: bytes("fake")) == ["foo"])
        #expect(ring.nodes(for: bytes("fake"), replicas: 2) == ["bar", "foo"])
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["foo"]) == ["bar"])
        #expect(ring.nodes(for: bytes("fake-again")) == ["bar"])
        #expect(ring.nodes(for: bytes("fake-again"), replicas: 2) == ["bar", "baz"])
        #expect(ring.nodes(for: bytes("chupacabra")) == ["baz"])
        #expect(ring.nodes(for: bytes("chupacabra"), replicas: 2) == ["baz", "foo"])
        #expect(ring.nodes(for: bytes("чупакабра")) == ["bar"])
        #expect(ring.nodes(forKey: "чупакабра") == ["bar"])
        #expect(ring.nodes(forKey: "fake", replicas: 2) == ["bar", "foo"])
    }

    @Test func replicas() {
        let ring = HashRing(nodes: ["foo", "bar", "baz"])
        let fake2 = ring.nodes(for: bytes("fake"), replicas: 2)
        let again2 = ring.nodes(for: bytes("fake-again"), replicas: 2)
        #expect(fake2.count == 2 && again2.count == 2)
        let fake3 = ring.nodes(for: bytes("fake"), replicas: 3)
        #expect(fake3 == ["foo", "bar", "baz"])
        #expect(fake3 == ring.nodes(for: bytes("fake-again"), replicas: 3))
        // More replicas than nodes is capped; none or negative gives nothing.
        #expect(ring.nodes(for: bytes("fake"), replicas: 10) == ["foo", "bar", "baz"])
        #expect(ring.nodes(for: bytes("fake"), replicas: 0).isEmpty)
        #expect(ring.nodes(for: bytes("fake"), replicas: -1).isEmpty)
    }

    @Test func ignoringNodes() {
        let ring = HashRing(nodes: ["foo", "bar", "baz"])
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["foo", "bar"]) == ["baz"])
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["foo", "bar", "baz"]).isEmpty)
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["zzz"]) == ["foo"])
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["foo"], replicas: 3) == ["bar", "baz"])

        let two = HashRing(nodes: ["foo", "bar"])
        #expect(two.nodes(for: bytes("fake"), ignoring: ["baz"]) == ["foo"])
        #expect(two.nodes(for: bytes("fake"), replicas: 2) == ["foo", "bar"])
    }

    @Test func distinctKeysLandOnDistinctNodes() {
        let ring = HashRing(nodes: ["foo", "bar", "baz"])
        let first = ring.nodes(for: bytes("fake"))
        let second = ring.nodes(for: bytes("fake-again"))
        #expect(first.count == 1 && second.count == 1)
        #expect(first != second)
    }

    /// `a` with weight 1 and `b` with weight 3: 128 points, and keys "0"..."7" go to b,b,b,b,a,b,b,b.
    @Test func weightedNodes() {
        var ring = HashRing()
        ring.add("a", weight: 1)
        ring.add("b", weight: 3)
        #expect(ring.pointCount == 128)
        #expect(ring.nodes == ["a": 1, "b": 3])
        let placed = (0..<8).map { ring.nodes(forKey: String($0)).first ?? "?" }
        #expect(placed == ["b", "b", "b", "b", "a", "b", "b", "b"])
    }

    @Test func emptyRing() {
        let ring = HashRing()
        #expect(ring.pointCount == 0)
        #expect(ring.nodes.isEmpty)
        #expect(ring.nodes(for: bytes("fake")).isEmpty)
        #expect(ring.nodes(for: bytes("fake"), replicas: 3).isEmpty)
    }

    // MARK: Point counts (tooz test_hashring)

    @Test func createRing() {
        let ring = HashRing(nodes: ["foo", "bar"])
        #expect(Set(ring.nodes.keys) == ["foo", "bar"])
        #expect(ring.pointCount == 64)
        // Duplicates count once, as tooz adds set(nodes).
        #expect(HashRing(nodes: ["foo", "bar", "foo"]).pointCount == 64)
        #expect(HashRing(nodes: Set(["foo", "bar"]), partitions: 5).pointCount == 10)
    }

    @Test func addNode() {
        for extra in ["baz", "\u{0634}\u{0628}\u{06a9}\u{0647}", "Z\u{e2}\u{fa}\u{90}\u{17}EC"] {
            var ring = HashRing(nodes: ["foo", "bar"])
            ring.add(extra)
            #expect(Set(ring.nodes.keys) == ["foo", "bar", extra])
            #expect(ring.pointCount == 32 * 3)
        }
        var ring = HashRing(nodes: ["foo", "bar"])
        ring.add("\u{0634}\u{0628}\u{06a9}\u{0647}")
        #expect(ring.nodes(for: bytes("fake"), replicas: 3) == ["foo", "bar", "\u{0634}\u{0628}\u{06a9}\u{0647}"])
    }

    @Test func addNodeWeight() {
        var ring = HashRing(nodes: ["foo", "bar"])
        ring.add("baz", weight: 10)
        #expect(ring.pointCount == 32 * 12)
        ring.add("baz2", weight: 10)
        #expect(ring.pointCount == 32 * 22)
        #expect(ring.nodes == ["foo": 1, "bar": 1, "baz": 10, "baz2": 10])
    }

    /// Adding a node again replaces its weight instead of stacking points.
    @Test func reAddChangesWeight() {
        var ring = HashRing(nodes: ["foo", "bar"])
        ring.add("foo", weight: 3)
        #expect(ring.pointCount == 32 * 4)
        ring.add("foo", weight: 1)
        #expect(ring.pointCount == 32 * 2)
        #expect(ring.nodes == ["foo": 1, "bar": 1])
        #expect(ring.sortedPoints == HashRing(nodes: ["foo", "bar"]).sortedPoints)
    }

    @Test func removeNode() throws {
        var ring = HashRing(nodes: ["foo", "bar"])
        try ring.remove("bar")
        #expect(Set(ring.nodes.keys) == ["foo"])
        #expect(ring.pointCount == 32)
        #expect(ring.sortedOwners.allSatisfy { $0 == "foo" })

        var weighted = HashRing(nodes: ["foo"])
        weighted.add("Z\u{e2}\u{fa}\u{90}", weight: 4)
        try weighted.remove("Z\u{e2}\u{fa}\u{90}")
        #expect(weighted.pointCount == 32)
        #expect(weighted.sortedPoints == HashRing(nodes: ["foo"]).sortedPoints)
    }

    @Test func removeUnknownNode() {
        var ring = HashRing(nodes: ["foo", "bar"])
        do {
            try ring.remove("biz")
            Issue.record("removing an unknown node succeeded")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "Unknown node `biz'")
        }
        #expect(ring.pointCount == 64)
    }

    @Test func addThenRemove() throws {
        var ring = HashRing(nodes: ["foo", "bar"])
        ring.add("baz")
        #expect(ring.pointCount == 96)
        try ring.remove("bar")
        #expect(Set(ring.nodes.keys) == ["foo", "baz"])
        #expect(ring.pointCount == 64)
        #expect(ring.sortedPoints == HashRing(nodes: ["foo", "baz"]).sortedPoints)
        #expect(ring.sortedOwners == HashRing(nodes: ["baz", "foo"]).sortedOwners)
    }

    /// A node with weight 0 owns no point; lookups must still terminate (Python would loop).
    @Test func zeroWeightNode() {
        var ring = HashRing(nodes: ["foo"])
        ring.add("idle", weight: 0)
        #expect(ring.pointCount == 32)
        #expect(ring.nodes(for: bytes("fake"), replicas: 2) == ["foo"])
        #expect(ring.nodes(for: bytes("fake"), ignoring: ["foo"]).isEmpty)
    }

    /// Adds and removes in any order give the same ring as building it from scratch.
    @Test func incrementalChangesMatchAFreshRing() throws {
        var ring = HashRing(nodes: ["n0", "n1"])
        for index in 2..<12 {
            ring.add("n\(index)", weight: index % 3 + 1)
        }
        try ring.remove("n1")
        try ring.remove("n7")
        ring.add("n1", weight: 2)
        ring.add("n4", weight: 1)

        var fresh = HashRing()
        for (node, weight) in ring.nodes.sorted(by: { $0.key > $1.key }) {
            fresh.add(node, weight: weight)
        }
        #expect(ring.pointCount == 32 * ring.nodes.values.reduce(0, +))
        #expect(ring.sortedPoints == fresh.sortedPoints)
        #expect(ring.sortedOwners == fresh.sortedOwners)
        #expect(zip(ring.sortedPoints, ring.sortedPoints.dropFirst()).allSatisfy { $0 < $1 })
    }

    // MARK: Stability

    /// tooz's rebalance tests, done per key (upstream's helper compares a single dict entry).
    /// Python tooz moves exactly 807 of 10,000 keys, all to the new node, when an 11th joins,
    /// and 683 keys, all from the leaver, when the 10th leaves.
    @Test func rebalanceStability() throws {
        let services = (0..<10).map(String.init)
        let ring = HashRing(nodes: services)
        var joined = ring
        joined.add("new")
        var left = ring
        try left.remove("9")
        #expect(left.sortedPoints == HashRing(nodes: services.dropLast()).sortedPoints)

        var movedOnJoin = 0
        var movedOnLeave = 0
        var load: [String: Int] = [:]
        for key in 0..<10_000 {
            let before = ring.nodes(forKey: String(key))
            let afterJoin = joined.nodes(forKey: String(key))
            let afterLeave = left.nodes(forKey: String(key))
            load[before.first!, default: 0] += 1
            if afterJoin != before {
                movedOnJoin += 1
                #expect(afterJoin == ["new"])
            }
            if afterLeave != before {
                movedOnLeave += 1
                #expect(before == ["9"])
            }
        }
        #expect(movedOnJoin < 10_000 / 10)
        #expect(movedOnLeave < 10_000 / 9)
        #expect(movedOnJoin == 807)
        #expect(movedOnLeave == 683)
        #expect(services.map { load[$0] ?? 0 } == [1042, 1049, 1232, 944, 1112, 1149, 809, 779, 1201, 683])
    }

    /// Python tooz, nodes m1..m4 with weights 1, 2, 1, 3 (224 points): the node index of
    /// keys "key-0" ... "key-999", one replica each.
    @Test func weightedPlacementsMatchPython() {
        let names = ["m1", "m2", "m3", "m4"]
        var ring = HashRing()
        for (name, weight) in zip(names, [1, 2, 1, 3]) {
            ring.add(name, weight: weight)
        }
        #expect(ring.pointCount == 224)
        let expected = Self.pythonPlacements.map { names[Int(String($0))!] }
        #expect(expected.count == 1000)
        var mismatches = 0
        for (index, node) in expected.enumerated() where ring.nodes(forKey: "key-\(index)") != [node] {
            mismatches += 1
        }
        #expect(mismatches == 0)

        // replicas=2 for key-0 ... key-19, as sorted node-index pairs.
        let pairs = "01 13 03 13 13 01 01 12 23 13 03 01 13 12 13 13 03 23 03 03".split(separator: " ")
        for (index, pair) in pairs.enumerated() {
            let expectedPair = Set(pair.map { names[Int(String($0))!] })
            #expect(ring.nodes(forKey: "key-\(index)", replicas: 2) == expectedPair, "key-\(index)")
        }
    }

    /// Python tooz, `HashRing(["x", "y", "z"], partitions=5)`: keys "k0" ... "k49".
    @Test func smallPartitionCountMatchesPython() {
        let ring = HashRing(nodes: ["x", "y", "z"], partitions: 5)
        #expect(ring.pointCount == 15)
        let expected = "11100112210221202012220101101110110121102022120010".map { ["x", "y", "z"][Int(String($0))!] }
        let placed = (0..<50).map { ring.nodes(forKey: "k\($0)").first ?? "?" }
        #expect(placed == expected)
    }

    private static let pythonPlacements =
        "0101100123013233323321131313033311021302321301330000131113031022130131113303311113001032301322310021"
        + "3113321032311320331221233110133032312101103312310100000331313203130011213330330133333123131103311132"
        + "1201131131311031201311011131332300000112333323213123111022310331330111113101333213331331213312011113"
        + "1131011201011330312111102131231010311033113331311130013100333313321121333013133311213133132332331122"
        + "1330203211121012313301130130313112303233130033012333313013311110001132310200111023113121102231112233"
        + "1111133011133212312121311101331101113020313321233310131321003301102133323212133323233203231003131331"
        + "0032013310333233330313333303310302102110131130113030133130313331132122333111111131233111313213112131"
        + "3130233003321010221003133333032333311030013010331023330110302230333131130010031113033132022012303333"
        + "0233333113313112220101110103222231311323230213112301113033310031033123101010111100333120133131333300"
        + "2021030113103111203323133233202332103111333211131023101331010211111333022320133113123303313133032131"
}
