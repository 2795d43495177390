import Testing

@testable import Tooz

/// Byte vectors produced by Python 3.11 with msgpack 1.2.4 and oslo.serialization 5.11.0
/// (`msgpackutils.dumps`), i.e. what tooz 9.1.0 writes.
@Suite struct OsloMsgPackTests {
    private func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Encodes, compares with Python's bytes, and decodes back to the same value.
    private func check(_ value: MessagePackValue, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(hex(OsloMsgPack.encode(value)) == expected, sourceLocation: sourceLocation)
        #expect(try OsloMsgPack.decode(bytes(expected)) == value, sourceLocation: sourceLocation)
    }

    private func expectFailure(_ hex: String, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectFailure(bytes(hex), mentioning: fragment, sourceLocation: sourceLocation)
    }

    private func expectFailure(_ input: [UInt8], mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let value = try OsloMsgPack.decode(input)
            Issue.record("decoded \(hex(input)) as \(value)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .serializationFailed, sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func scalars() throws {
        try check(.nil, "c0")
        try check(true, "c3")
        try check(false, "c2")
        try check(.double(1.5), "cb3ff8000000000000")
        try check(.double(3.141592653589793), "cb400921fb54442d18")
        try check(.double(-1e300), "cbfe37e43c8800759c")
        try check(.double(-0.0), "cb8000000000000000")
        try check(.double(.infinity), "cb7ff0000000000000")
        #expect(hex(OsloMsgPack.encode(.double(.nan))) == "cb7ff8000000000000")
    }

    /// msgpack-python picks the smallest form and uses the unsigned family for every
    /// non-negative number.
    @Test func integers() throws {
        let vectors: [(Int64, String)] = [
            (0, "00"), (1, "01"), (127, "7f"), (128, "cc80"), (255, "ccff"), (256, "cd0100"),
            (65535, "cdffff"), (65536, "ce00010000"), (4_294_967_295, "ceffffffff"),
            (4_294_967_296, "cf0000000100000000"), (Int64.max, "cf7fffffffffffffff"),
            (-1, "ff"), (-32, "e0"), (-33, "d0df"), (-128, "d080"), (-129, "d1ff7f"), (-32768, "d18000"),
            (-32769, "d2ffff7fff"), (-2_147_483_648, "d280000000"), (-2_147_483_649, "d3ffffffff7fffffff"),
            (Int64.min, "d38000000000000000"),
        ]
        for (number, expected) in vectors {
            try check(.int(number), expected)
        }
        try check(.uint(9_223_372_036_854_775_808), "cf8000000000000000")
        try check(.uint(UInt64.max), "cfffffffffffffffff")
        // Small .uint values encode like .int and decode to the canonical .int.
        #expect(hex(OsloMsgPack.encode(.uint(200))) == "ccc8")
        #expect(try OsloMsgPack.decode(bytes("ccc8")) == .int(200))
        // Other encoders may use signed forms for positive numbers; they still decode.
        #expect(try OsloMsgPack.decode(bytes("d07f")) == .int(127))
        #expect(try OsloMsgPack.decode(bytes("d3000000000000ffff")) == .int(65535))
    }

    @Test func strings() throws {
        try check("", "a0")
        try check("a", "a161")
        try check(.string(String(repeating: "x", count: 31)), "bf" + String(repeating: "78", count: 31))
        try check(.string(String(repeating: "x", count: 32)), "d920" + String(repeating: "78", count: 32))
        try check("чупакабра", "b2d187d183d0bfd0b0d0bad0b0d0b1d180d0b0")
        try check("é🎉", "a6c3a9f09f8e89")
        let headers: [(Int, String)] = [(255, "d9ff"), (256, "da0100"), (65536, "db00010000")]
        for (length, header) in headers {
            let value = MessagePackValue.string(String(repeating: "y", count: length))
            let encoded = OsloMsgPack.encode(value)
            #expect(hex(Array(encoded.prefix(header.count / 2))) == header)
            #expect(encoded.count == header.count / 2 + length)
            #expect(try OsloMsgPack.decode(encoded) == value)
        }
    }

    @Test func binary() throws {
        try check(.binary([]), "c400")
        try check(.binary([0x00, 0x01, 0xff]), "c4030001ff")
        let headers: [(Int, String)] = [(255, "c4ff"), (256, "c50100"), (65536, "c600010000")]
        for (length, header) in headers {
            let value = MessagePackValue.binary([UInt8](repeating: 0x7a, count: length))
            let encoded = OsloMsgPack.encode(value)
            #expect(hex(Array(encoded.prefix(header.count / 2))) == header)
            #expect(encoded.count == header.count / 2 + length)
            #expect(try OsloMsgPack.decode(encoded) == value)
        }
    }

    @Test func containers() throws {
        try check([], "90")
        try check(.array((0..<15).map { .int($0) }), "9f000102030405060708090a0b0c0d0e")
        try check(.array((0..<16).map { .int($0) }), "dc0010000102030405060708090a0b0c0d0e0f")
        try check([:], "80")
        // A Python tuple (1, 'a', b'b').
        try check([1, "a", .binary([0x62])], "9301a161c40162")
        // The partitioner's capabilities.
        try check(["weight": 5], "81a677656967687405")
        // {'a': [1, {'b': None, b'c': 2.5}], 'd': -7}: bin keys stay bin.
        try check(
            ["a": [1, [.string("b"): .nil, .binary([0x63]): 2.5]], "d": -7],
            "82a161920182a162c0c40163cb4004000000000000a164f9")

        let map15 = MessagePackValue.map((0..<15).map { MessagePackMapEntry(.string("k\($0)"), .int(Int64($0))) })
        let map16 = MessagePackValue.map((0..<16).map { MessagePackMapEntry(.string("k\($0)"), .int(Int64($0))) })
        #expect(OsloMsgPack.encode(map15).first == 0x8f)
        #expect(Array(OsloMsgPack.encode(map16).prefix(3)) == [0xde, 0x00, 0x10])
        #expect(try OsloMsgPack.decode(OsloMsgPack.encode(map16)) == map16)

        let big = MessagePackValue.array(Array(repeating: .nil, count: 65536))
        let encoded = OsloMsgPack.encode(big)
        #expect(hex(Array(encoded.prefix(5))) == "dd00010000")
        #expect(try OsloMsgPack.decode(encoded) == big)
        let bigMap = MessagePackValue.map((0..<65536).map { MessagePackMapEntry(.int(Int64($0)), .nil) })
        #expect(hex(Array(OsloMsgPack.encode(bigMap).prefix(5))) == "df00010000")
        #expect(try OsloMsgPack.decode(OsloMsgPack.encode(bigMap)) == bigMap)
    }

    /// Map entries keep their wire order, duplicates included, so re-encoding is lossless.
    @Test func mapOrderIsPreserved() throws {
        let wire = "83a17a01a16102a17a03"
        let value = try OsloMsgPack.decode(bytes(wire))
        #expect(value == .map([.init("z", 1), .init("a", 2), .init("z", 3)]))
        #expect(hex(value.encoded) == wire)
    }

    @Test func decodesFormsPythonDoesNotWrite() throws {
        // float32
        #expect(try OsloMsgPack.decode(bytes("ca3fc00000")) == .double(1.5))
        // str8 holding a short string
        #expect(try OsloMsgPack.decode(bytes("d903616263")) == "abc")
        // str16, array16 and map16 with small counts
        #expect(try OsloMsgPack.decode(bytes("da000161")) == "a")
        #expect(try OsloMsgPack.decode(bytes("dc000101")) == [1])
        #expect(try OsloMsgPack.decode(bytes("de0001a16101")) == ["a": 1])
    }

    // MARK: Extensions

    @Test func naiveDateTime() throws {
        // datetime.datetime(2024, 5, 17, 13, 45, 30, 123456)
        let date = OsloDateTime(year: 2024, month: 5, day: 17, hour: 13, minute: 45, second: 30, microsecond: 123_456)
        try check(
            .dateTime(date),
            "c73c0187a364617911a56d6f6e746805a479656172cd07e8a4686f75720da66d696e7574652da67365636f6e641e"
                + "ab6d6963726f7365636f6e64ce0001e240")
    }

    @Test func zonedDateTime() throws {
        // datetime(2024, 5, 17, 13, 45, 30, 123456, tzinfo=ZoneInfo("Europe/Paris"))
        let paris = OsloDateTime(
            year: 2024, month: 5, day: 17, hour: 13, minute: 45, second: 30, microsecond: 123_456,
            timeZone: "Europe/Paris")
        try check(
            .dateTime(paris),
            "c74c0188a364617911a56d6f6e746805a479656172cd07e8a4686f75720da66d696e7574652da67365636f6e641e"
                + "ab6d6963726f7365636f6e64ce0001e240a2747aac4575726f70652f5061726973")
        // tzinfo=datetime.timezone.utc
        var utc = paris
        utc.timeZone = "UTC"
        try check(
            .dateTime(utc),
            "c7430188a364617911a56d6f6e746805a479656172cd07e8a4686f75720da66d696e7574652da67365636f6e641e"
                + "ab6d6963726f7365636f6e64ce0001e240a2747aa3555443")
    }

    @Test func dateTimeLimits() throws {
        try check(
            .dateTime(OsloDateTime(year: 1, month: 1, day: 1)),
            "c7360187a364617901a56d6f6e746801a47965617201a4686f757200a66d696e75746500a67365636f6e6400"
                + "ab6d6963726f7365636f6e6400")
        try check(
            .dateTime(OsloDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, microsecond: 999_999)),
            "c73c0187a36461791fa56d6f6e74680ca479656172cd270fa4686f757217a66d696e7574653ba67365636f6e643b"
                + "ab6d6963726f7365636f6e64ce000f423f")
    }

    /// A member record written by tooz 9.1.0's file driver (`<sha1(member)>.raw`) after
    /// `join_group(b'g1', capabilities={'weight': 3, 'name': 'hello', 'blob': b'\x00\xff'})`.
    @Test func fileDriverMemberRecord() throws {
        let wire =
            "84ac6361706162696c697469657383a677656967687403a46e616d65a568656c6c6fa4626c6f62c40200ff"
            + "a96a6f696e65645f6f6ec73c0187a364617918a56d6f6e74680ba479656172cd07eaa4686f757217a66d696e7574"
            + "6517a67365636f6e6411ab6d6963726f7365636f6e64ce0002bae4a96d656d6265725f6964c4086d656d6265722d31"
            + "a7656e636f646564c2"
        let record = try OsloMsgPack.decode(bytes(wire))
        let expected: MessagePackValue = [
            "capabilities": ["weight": 3, "name": "hello", "blob": .binary([0x00, 0xff])],
            "joined_on": .dateTime(
                OsloDateTime(year: 2026, month: 11, day: 24, hour: 23, minute: 23, second: 17, microsecond: 178_916)),
            "member_id": .binary(Array("member-1".utf8)),
            "encoded": false,
        ]
        #expect(record == expected)
        #expect(record["capabilities"]?["weight"]?.intValue == 3)
        #expect(hex(record.encoded) == wire)

        // The group's `.metadata`: {'group_id': b'g1', 'encoded': False}.
        try check(["group_id": .binary(Array("g1".utf8)), "encoded": false], "82a867726f75705f6964c4026731a7656e636f646564c2")
    }

    /// oslo.serialization ≤ 2.4.1 under Python 2 wrote bytes keys and a bytes `tz`; oslo still
    /// reads them, so we do too.
    @Test func legacyDateTimeWithBytesKeys() throws {
        let payload: MessagePackValue = .map([
            .init(.binary(Array("day".utf8)), 2), .init(.binary(Array("month".utf8)), 3),
            .init(.binary(Array("year".utf8)), 2015), .init(.binary(Array("hour".utf8)), 4),
            .init(.binary(Array("minute".utf8)), 5), .init(.binary(Array("second".utf8)), 6),
            .init(.binary(Array("microsecond".utf8)), 7), .init(.binary(Array("tz".utf8)), .binary(Array("UTC".utf8))),
        ])
        let wire = OsloMsgPack.encode(.extension(type: 1, data: payload.encoded))
        let expected = OsloDateTime(
            year: 2015, month: 3, day: 2, hour: 4, minute: 5, second: 6, microsecond: 7, timeZone: "UTC")
        #expect(try OsloMsgPack.decode(wire) == .dateTime(expected))
    }

    @Test func otherExtensionsPassThrough() throws {
        // uuid.UUID('12345678123456781234567812345678'): ext 0 with the ASCII hex, ext8 form.
        try check(
            .extension(type: 0, data: Array("12345678123456781234567812345678".utf8)),
            "c72000" + String(repeating: "3132333435363738", count: 4))
        // {1} (a set): fixext 2 holding the array [1].
        try check(.extension(type: 4, data: [0x91, 0x01]), "d5049101")
        // datetime.date(2024, 1, 2): ext 7.
        try check(.extension(type: 7, data: bytes("83a479656172cd07e8a56d6f6e746801a364617902")),
            "c7150783a479656172cd07e8a56d6f6e746801a364617902")
        // msgpack's own timestamp (-1) is kept as is.
        try check(.extension(type: -1, data: [0, 0, 0, 1]), "d6ff00000001")
    }

    /// msgpack-python uses fixext for payloads of 1, 2, 4, 8 and 16 bytes, ext8/16/32 otherwise.
    @Test func extensionForms() throws {
        let headers: [(Int, String)] = [
            (0, "c70009"), (1, "d409"), (2, "d509"), (3, "c70309"), (4, "d609"), (5, "c70509"), (8, "d709"),
            (15, "c70f09"), (16, "d809"), (17, "c71109"), (255, "c7ff09"), (256, "c8010009"), (65535, "c8ffff09"),
            (65536, "c90001000009"),
        ]
        for (length, header) in headers {
            let value = MessagePackValue.extension(type: 9, data: [UInt8](repeating: 0x78, count: length))
            let encoded = OsloMsgPack.encode(value)
            #expect(hex(Array(encoded.prefix(header.count / 2))) == header, "payload of \(length) bytes")
            #expect(encoded.count == header.count / 2 + length)
            #expect(try OsloMsgPack.decode(encoded) == value)
        }
    }

    // MARK: Malformed input

    @Test func truncatedInputs() {
        expectFailure("", mentioning: "truncated")
        expectFailure("cd01", mentioning: "truncated")
        expectFailure("cb3ff80000", mentioning: "truncated")
        expectFailure("a3616263".dropLast(2).description, mentioning: "truncated")
        expectFailure("c403ffff", mentioning: "truncated")
        expectFailure("92c0", mentioning: "truncated")
        expectFailure("82a161", mentioning: "truncated")
        expectFailure("d6ff0000", mentioning: "truncated")
        expectFailure("c7", mentioning: "truncated")
        // Every strict prefix of a real record fails cleanly.
        let record = OsloMsgPack.encode(["a": [1, "two", .binary([3]), 4.5, .dateTime(OsloDateTime(year: 2000, month: 2, day: 29))]])
        for length in 0..<record.count {
            #expect(throws: ToozError.self) { try OsloMsgPack.decode(Array(record.prefix(length))) }
        }
    }

    /// Lengths are checked against the input before anything is allocated or sliced.
    @Test func lengthsBeyondTheInput() {
        expectFailure("dbffffffff", mentioning: "truncated")
        expectFailure("c6ffffffff00", mentioning: "truncated")
        expectFailure("c9ffffffff01", mentioning: "truncated")
        expectFailure("ddffffffff", mentioning: "claims 4294967295 elements")
        expectFailure("dfffffffff", mentioning: "claims 4294967295 entries")
        expectFailure("dc0003c0c0", mentioning: "claims 3 elements")
        expectFailure("de0002c0c0c0", mentioning: "claims 2 entries")
    }

    @Test func trailingBytes() {
        expectFailure("c0c0", mentioning: "1 unexpected trailing byte")
        expectFailure("9101ffff", mentioning: "2 unexpected trailing byte")
    }

    @Test func reservedAndInvalid() {
        expectFailure("c1", mentioning: "0xc1")
        expectFailure("91c1", mentioning: "0xc1 at offset 1")
        expectFailure("a2c328", mentioning: "not valid UTF-8")
        expectFailure("d902fffe", mentioning: "not valid UTF-8")
    }

    @Test func malformedDateTimes() throws {
        func dateTime(_ payload: MessagePackValue) -> String {
            hex(OsloMsgPack.encode(.extension(type: 1, data: payload.encoded)))
        }
        let fields: [(String, MessagePackValue)] = [
            ("day", 28), ("month", 2), ("year", 2023), ("hour", 0), ("minute", 0), ("second", 0), ("microsecond", 0),
        ]
        func payload(replacing name: String, with value: MessagePackValue?) -> MessagePackValue {
            .map(fields.compactMap { field in
                if field.0 == name { return value.map { MessagePackMapEntry(.string(name), $0) } }
                return MessagePackMapEntry(.string(field.0), field.1)
            })
        }
        #expect(try OsloMsgPack.decode(bytes(dateTime(payload(replacing: "", with: nil))))
            == .dateTime(OsloDateTime(year: 2023, month: 2, day: 28)))
        // 2023-02-29 does not exist.
        expectFailure(dateTime(payload(replacing: "day", with: 29)), mentioning: "invalid `day'")
        expectFailure(dateTime(payload(replacing: "day", with: 0)), mentioning: "invalid `day'")
        expectFailure(dateTime(payload(replacing: "month", with: 13)), mentioning: "invalid `month'")
        expectFailure(dateTime(payload(replacing: "year", with: 10000)), mentioning: "invalid `year'")
        expectFailure(dateTime(payload(replacing: "hour", with: 24)), mentioning: "invalid `hour'")
        expectFailure(dateTime(payload(replacing: "microsecond", with: 1_000_000)), mentioning: "invalid `microsecond'")
        expectFailure(dateTime(payload(replacing: "second", with: "0")), mentioning: "invalid `second'")
        expectFailure(dateTime(payload(replacing: "minute", with: nil)), mentioning: "lacks `minute'")
        expectFailure(dateTime([1, 2, 3]), mentioning: "does not hold a map")
        expectFailure(dateTime([1: 2]), mentioning: "not a string")
        expectFailure(dateTime(payload(replacing: "day", with: 1).appending("tz", 5)), mentioning: "invalid `tz'")
        // The payload must be one complete msgpack value.
        expectFailure("d40191", mentioning: "datetime extension")
        expectFailure("d501c0c0", mentioning: "trailing")
        // 2024-02-29 exists; an empty or nil tz means naive, as in oslo.
        let leap = dateTime(payload(replacing: "year", with: 2024).replacing("day", 29).appending("tz", ""))
        #expect(try OsloMsgPack.decode(bytes(leap)) == .dateTime(OsloDateTime(year: 2024, month: 2, day: 29)))
        let nilZone = dateTime(payload(replacing: "year", with: 2000).replacing("day", 29).appending("tz", .nil))
        #expect(try OsloMsgPack.decode(bytes(nilZone)) == .dateTime(OsloDateTime(year: 2000, month: 2, day: 29)))
    }

    @Test func nestingLimit() throws {
        func nested(_ depth: Int) -> [UInt8] {
            [UInt8](repeating: 0x91, count: depth) + [0xc0]
        }
        let deepest = try OsloMsgPack.decode(nested(OsloMsgPack.maximumDepth))
        var level = deepest
        var count = 0
        while case .array(let inner) = level {
            count += 1
            level = inner[0]
        }
        #expect(count == OsloMsgPack.maximumDepth)
        #expect(level == .nil)
        expectFailure(nested(OsloMsgPack.maximumDepth + 1), mentioning: "nesting deeper than 512")
        // Far deeper input must fail the same way, not exhaust the stack.
        expectFailure([UInt8](repeating: 0x81, count: 100_000) + [0xc0], mentioning: "nesting deeper than 512")
        expectFailure([UInt8](repeating: 0x91, count: 1_000_000), mentioning: "nesting deeper than 512")
        // A datetime payload counts as a level too.
        let date = OsloMsgPack.encode(.dateTime(OsloDateTime(year: 2000, month: 1, day: 1)))
        #expect(throws: ToozError.self) {
            try OsloMsgPack.decode([UInt8](repeating: 0x91, count: OsloMsgPack.maximumDepth) + date)
        }
        #expect(try OsloMsgPack.decode([UInt8](repeating: 0x91, count: OsloMsgPack.maximumDepth - 2) + date) != .nil)
    }

    @Test func roundTrips() throws {
        let values: [MessagePackValue] = [
            .nil,
            [1, -1, 1.25, "x", .binary([]), [], [:], .uint(UInt64.max), .int(Int64.min)],
            ["capabilities": .nil, "nested": [["deep": [[[[["er": true]]]]]]]],
            .map([.init(1, "int key"), .init(.binary([0xff]), "bin key"), .init(.nil, "nil key")]),
            .dateTime(OsloDateTime(year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 59, timeZone: "Asia/Tokyo")),
            .extension(type: 42, data: Array(0..<200)),
            .extension(type: -128, data: []),
        ]
        for value in values {
            let encoded = value.encoded
            let decoded = try MessagePackValue(decoding: encoded)
            #expect(decoded == value)
            #expect(decoded.encoded == encoded)
        }
    }

    /// Arbitrary byte strings must be rejected or accepted without crashing, and whatever is
    /// accepted must re-encode to something that decodes to the same value.
    @Test func noCrashOnGarbage() {
        var generator = SystemRandomNumberGenerator()
        let seeds: [[UInt8]] = [
            OsloMsgPack.encode(["a": [1, "two", .binary([3]), 4.5, .dateTime(OsloDateTime(year: 2000, month: 2, day: 29))]]),
            bytes("84ac6361706162696c697469657383a677656967687403"),
        ]
        for _ in 0..<2000 {
            var input = seeds[Int.random(in: 0..<seeds.count, using: &generator)]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                input[Int.random(in: 0..<input.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if let value = try? OsloMsgPack.decode(input) {
                #expect((try? OsloMsgPack.decode(value.encoded)) == value)
            }
        }
    }
}

extension MessagePackValue {
    fileprivate func replacing(_ key: String, _ value: MessagePackValue) -> MessagePackValue {
        guard case .map(let entries) = self else { return self }
        return .map(entries.map { $0.key == .string(key) ? MessagePackMapEntry($0.key, value) : $0 })
    }

    fileprivate func appending(_ key: String, _ value: MessagePackValue) -> MessagePackValue {
        guard case .map(let entries) = self else { return self }
        return .map(entries + [MessagePackMapEntry(.string(key), value)])
    }
}
