import Testing
import Tooz

@testable import ToozMemcached

@Suite("memcached group records in tooz's layout")
struct MemcachedGroupMapTests {
    /// What Python tooz 9.1.0 writes after `create_group(b"g")` and `join_group(b"g", b"py-1",
    /// {"weight": 4})`: `{b"py-1": {b"capabilities": {"weight": 4}}}`, bin keys, str inner key.
    static let pythonRecord: [UInt8] =
        [0x81, 0xC4, 0x04] + Array("py-1".utf8) + [0x81, 0xC4, 0x0C] + Array("capabilities".utf8)
        + [0x81, 0xA6] + Array("weight".utf8) + [0x04]

    @Test func readsPythonsRecordAndWritesTheSameBytesBack() throws {
        let map = try #require(try MemcachedGroupMap.decode(Self.pythonRecord, flags: 2, of: "g"))
        #expect(map.members == ["py-1"])
        #expect(map.capabilities(of: "py-1") == .map([MessagePackMapEntry("weight", .int(4))]))
        #expect(map.encoded == Self.pythonRecord)
    }

    @Test func anEmptyGroupIsAnEmptyMapAndToozsNilIsAGroupBeingDeleted() throws {
        #expect(MemcachedGroupMap().encoded == [0x80])
        #expect(try MemcachedGroupMap.decode([0x80], flags: 2, of: "g")?.isEmpty == true)
        #expect(try MemcachedGroupMap.decode([0xC0], flags: 2, of: "g") == nil)
    }

    @Test func joinUpdateAndLeaveChangeOnlyTheirMember() throws {
        var map = try #require(try MemcachedGroupMap.decode(Self.pythonRecord, flags: 2, of: "g"))
        map.insert("swift-1", capabilities: .string("x"))
        #expect(map.members == ["py-1", "swift-1"])
        let updated = map.setCapabilities(.int(7), of: "swift-1")
        let updatedNobody = map.setCapabilities(.int(7), of: "nobody")
        #expect(updated && !updatedNobody)
        #expect(map.capabilities(of: "swift-1") == .int(7))
        #expect(map.capabilities(of: "py-1") == .map([MessagePackMapEntry("weight", .int(4))]))
        let removed = map.remove("swift-1")
        let removedAgain = map.remove("swift-1")
        #expect(removed && !removedAgain)
        #expect(map.encoded == Self.pythonRecord)
    }

    @Test func ourMemberRecordIsToozs() {
        var map = MemcachedGroupMap()
        map.insert("m", capabilities: .nil)
        // {b"m": {b"capabilities": None}}
        #expect(map.encoded == [0x81, 0xC4, 0x01, 0x6D, 0x81, 0xC4, 0x0C] + Array("capabilities".utf8) + [0xC0])
    }

    @Test func pruningKeepsWhatTheFilterAccepts() {
        var map = MemcachedGroupMap()
        for name in ["a", "b", "c"] { map.insert(MemberID(name), capabilities: .nil) }
        map.filter { $0 != "b" }
        #expect(map.members == ["a", "c"])
    }

    @Test func refusesOtherFlagsAndShapes() {
        for (bytes, flags) in [([UInt8]([0x80]), UInt32(1)), ([0x91, 0x01], 2), ([0xC1], 2), ([0x81, 0x01, 0x80], 2)] {
            #expect {
                try MemcachedGroupMap.decode(bytes, flags: flags, of: "g")
            } throws: { error in
                (error as! ToozError).code == .serializationFailed
            }
        }
    }

    @Test func theGroupListIsAnArrayOfBinIDs() throws {
        let bytes = MemcachedGroupList.encode(["a", "bc"])
        #expect(bytes == [0x92, 0xC4, 0x01, 0x61, 0xC4, 0x02, 0x62, 0x63])
        #expect(try MemcachedGroupList.decode(bytes, flags: 2) == ["a", "bc"])
        #expect(try MemcachedGroupList.decode([0x91, 0xA1, 0x61], flags: 2) == ["a"])
        #expect(throws: ToozError.self) { try MemcachedGroupList.decode([0x91, 0x01], flags: 2) }
        #expect(throws: ToozError.self) { try MemcachedGroupList.decode([0x90], flags: 1) }
    }

    @Test func ttlsAreWholeSecondsAndCountOnOneLess() {
        #expect(MemcachedTTL.seconds(for: .seconds(30)) == 30)
        #expect(MemcachedTTL.seconds(for: .milliseconds(30_001)) == 31)
        #expect(MemcachedTTL.seconds(for: .milliseconds(300)) == 2)
        #expect(MemcachedTTL.seconds(for: .seconds(1_000_000_000)) == 2_592_000)
        #expect(MemcachedTTL.guaranteed(seconds: 30) == .seconds(29))
        #expect(MemcachedTTL.secondsCovering(.seconds(30)) == 31)
        #expect(MemcachedTTL.guaranteed(seconds: MemcachedTTL.secondsCovering(.milliseconds(2_500))) >= .milliseconds(2_500))
    }

    @Test func keysAreToozs() {
        #expect(MemcachedKeys.group("g") == "_TOOZ_GROUP_g")
        #expect(MemcachedKeys.member("m") == "_TOOZ_MEMBER_m")
        #expect(MemcachedKeys.lock(.lock("l")) == "__TOOZ_LOCK_l")
        #expect(MemcachedKeys.lock(.leadership("g")) == "__TOOZ_LOCK__TOOZ_GROUP_LEADER_g")
        #expect(MemcachedKeys.fence(.leadership("g")) == "_TOOZ_FENCE___TOOZ_LOCK__TOOZ_GROUP_LEADER_g")
        let longest = String(repeating: "x", count: MemcachedKeys.longestName)
        #expect(MemcachedKeys.fence(.leadership(GroupID(longest))).utf8.count <= MemcachedKeys.longestKey)
    }
}
