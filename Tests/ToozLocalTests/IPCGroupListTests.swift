import Testing

@testable import ToozLocal

@Suite struct IPCGroupListTests {
    /// A segment as Python writes it: `struct.pack("H", len(data)) + data`, then the rest of the
    /// 1024 bytes (zero in a fresh segment, stale bytes after a shrink).
    static func segment(_ data: [UInt8], filler: UInt8 = 0) -> [UInt8] {
        let header = withUnsafeBytes(of: UInt16(data.count)) { Array($0) }
        return header + data + Array(repeating: filler, count: IPCGroupList.segmentSize - 2 - data.count)
    }

    @Test func freshSegmentIsEmpty() throws {
        let list = try IPCGroupList(segment: Array(repeating: 0, count: IPCGroupList.segmentSize))
        #expect(list.entries.isEmpty)
        #expect(list.groups.isEmpty)
    }

    @Test func encodesAsPythonDoes() throws {
        var list = IPCGroupList()
        let insertedG1 = list.insert("g1")
        #expect(insertedG1)
        let insertedG2 = list.insert("g2")
        #expect(insertedG2)
        let insertedG1Again = list.insert("g1")
        #expect(!insertedG1Again)
        // msgpack.dumps([b'g1', b'g2']) == 92 c4 02 67 31 c4 02 67 32
        let data: [UInt8] = [0x92, 0xc4, 0x02, 0x67, 0x31, 0xc4, 0x02, 0x67, 0x32]
        let encoded = try list.encodedSegment()
        #expect(encoded == withUnsafeBytes(of: UInt16(9)) { Array($0) } + data)
        #expect(try IPCGroupList(segment: Self.segment(data, filler: 0xAB)) == list)
    }

    @Test func emptyListIsAnEmptyArray() throws {
        var list = IPCGroupList()
        list.insert("g")
        list.remove("g")
        // Python writes msgpack.dumps([]) == 0x90 with length 1.
        #expect(try list.encodedSegment() == withUnsafeBytes(of: UInt16(1)) { Array($0) } + [0x90])
    }

    @Test func readsPythonStrAndBytesIds() throws {
        // msgpack.dumps(['s', b'b']): a str id (Python caller passed str) and a bytes id.
        var list = try IPCGroupList(segment: Self.segment([0x92, 0xa1, 0x73, 0xc4, 0x01, 0x62]))
        #expect(list.groups == ["s", "b"])
        #expect(list.contains("s"))
        #expect(list.contains("b"))
        let insertedS = list.insert("s")
        #expect(!insertedS)
        let insertedNew = list.insert("new")
        #expect(insertedNew)
        // Entries written by Python keep their msgpack type when we write the list back.
        #expect(list.entries == [.string("s"), .binary([0x62]), .binary(Array("new".utf8))])
        let removedS = list.remove("s")
        #expect(removedS)
        let removedSAgain = list.remove("s")
        #expect(!removedSAgain)
        #expect(list.groups == ["b", "new"])
    }

    @Test func removesBothFormsOfOneId() throws {
        var list = IPCGroupList(entries: [.string("g"), .binary(Array("g".utf8)), .binary(Array("h".utf8))])
        #expect(list.groups == ["g", "h"])
        let removedG = list.remove("g")
        #expect(removedG)
        #expect(list.entries == [.binary(Array("h".utf8))])
    }

    @Test func skipsEntriesThatAreNotIds() {
        let list = IPCGroupList(entries: [.int(1), .binary([0xff, 0xfe]), .string("ok"), .nil])
        #expect(list.groups == ["ok"])
        #expect(list.entries.count == 4)
    }

    @Test func nonASCIIIdsAreUTF8Bytes() throws {
        var list = IPCGroupList()
        list.insert("grüppe")
        #expect(list.entries == [.binary(Array("grüppe".utf8))])
        let decoded = try IPCGroupList(segment: list.encodedSegment())
        #expect(decoded.groups == ["grüppe"])
    }

    @Test func fullListIsRefusedAtPythonsLimit() throws {
        // [bin16 of 1017 bytes] encodes to 1 + 3 + 1017 = 1021 bytes, the most tooz accepts.
        let fits = IPCGroupList(entries: [.binary(Array(repeating: 0x61, count: 1017))])
        let encoded = try fits.encodedSegment()
        #expect(encoded.count == IPCGroupList.segmentSize - 1)
        #expect(try IPCGroupList(segment: encoded) == fits)

        let tooBig = IPCGroupList(entries: [.binary(Array(repeating: 0x61, count: 1018))])
        let error = #expect(throws: ToozError.self) { try tooBig.encodedSegment() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("group list is full") == true)
    }

    @Test func manySmallGroupsFillTheList() throws {
        var list = IPCGroupList()
        var stored = 0
        while true {
            list.insert(GroupID("group-\(stored)"))
            do throws(ToozError) {
                _ = try list.encodedSegment()
                stored += 1
            } catch {
                #expect(error.code == .invalidArgument)
                break
            }
        }
        #expect(stored > 50)
        #expect(stored < 200)
    }

    @Test func garbageLengthIsCorruption() {
        var segment = Self.segment([0x90])
        segment[0] = 0xff
        segment[1] = 0xff
        let error = #expect(throws: ToozError.self) { try IPCGroupList(segment: segment) }
        #expect(error?.code == .serializationFailed)
        #expect(error?.message.contains("0x482d2f91") == true)
    }

    @Test func lengthBeyondTheBytesGivenIsCorruption() {
        let bytes = withUnsafeBytes(of: UInt16(10)) { Array($0) } + [0x92, 0xc4]
        #expect(throws: ToozError.self) { try IPCGroupList(segment: bytes) }
        #expect(throws: ToozError.self) { try IPCGroupList(segment: [0x01]) }
    }

    @Test func garbageDataIsCorruption() {
        for data: [UInt8] in [[0xc1], [0x92, 0xc4, 0x05, 0x61], [0x01], [0x80], [0x90, 0x90]] {
            let error = #expect(throws: ToozError.self, "data \(data)") { try IPCGroupList(segment: Self.segment(data)) }
            #expect(error?.code == .serializationFailed)
        }
    }
}
