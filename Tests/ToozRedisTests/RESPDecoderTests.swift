import NIOCore
import NIOTestUtils
import Testing

@testable import ToozRedis

private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

@Suite("RESP decoder")
struct RESPDecoderTests {
    @Test("RESP2 values decode from split and coalesced input")
    func resp2Values() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("+OK\r\n", [.simpleString(bytes("OK"))]),
                ("+\r\n", [.simpleString(bytes(""))]),
                ("-ERR wrong type\r\n", [.simpleError(bytes("ERR wrong type"))]),
                (":0\r\n", [.integer(0)]),
                (":-42\r\n", [.integer(-42)]),
                (":+7\r\n", [.integer(7)]),
                (":9223372036854775807\r\n", [.integer(.max)]),
                (":-9223372036854775808\r\n", [.integer(.min)]),
                ("$5\r\nhello\r\n", [.bulkString(bytes("hello"))]),
                ("$0\r\n\r\n", [.bulkString(bytes(""))]),
                ("$4\r\na\r\nb\r\n", [.bulkString(bytes("a\r\nb"))]),
                ("$-1\r\n", [.bulkString(nil)]),
                ("*-1\r\n", [.array(nil)]),
                ("*0\r\n", [.array([])]),
                (
                    "*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n",
                    [.array([.bulkString(bytes("foo")), .integer(1), .array([.simpleString(bytes("a")), .bulkString(nil)])])]
                ),
                ("*2\r\n*-1\r\n*0\r\n", [.array([.array(nil), .array([])])]),
            ],
            decoderFactory: { RESPDecoder() }
        )
    }

    @Test("RESP3 values decode from split and coalesced input")
    func resp3Values() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("_\r\n", [.null]),
                ("#t\r\n", [.boolean(true)]),
                ("#f\r\n", [.boolean(false)]),
                (",1.5\r\n", [.double(1.5)]),
                (",-2e3\r\n", [.double(-2000)]),
                (",10\r\n", [.double(10)]),
                (",inf\r\n", [.double(.infinity)]),
                (",-inf\r\n", [.double(-.infinity)]),
                (",nan\r\n", [.double(.nan)]),
                ("(3492890328409238509324850943850943825024385\r\n", [.bigNumber("3492890328409238509324850943850943825024385")]),
                ("(-12\r\n", [.bigNumber("-12")]),
                ("!21\r\nSYNTAX invalid syntax\r\n", [.bulkError(bytes("SYNTAX invalid syntax"))]),
                ("=15\r\ntxt:Some string\r\n", [.verbatimString(format: "txt", bytes("Some string"))]),
                (
                    "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n",
                    [.map([
                        RESPMapEntry(key: .simpleString(bytes("first")), value: .integer(1)),
                        RESPMapEntry(key: .bulkString(bytes("second")), value: .boolean(false)),
                    ])]
                ),
                ("%0\r\n", [.map([])]),
                ("~3\r\n+a\r\n:2\r\n_\r\n", [.set([.simpleString(bytes("a")), .integer(2), .null])]),
                (
                    ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n",
                    [.push([.bulkString(bytes("message")), .bulkString(bytes("chan")), .bulkString(bytes("hello"))])]
                ),
                // Attributes are dropped by default, leaving the reply they annotate.
                ("|1\r\n+ttl\r\n:3600\r\n:7\r\n", [.integer(7)]),
                ("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n", [.array([.integer(1), .integer(2)])]),
            ],
            decoderFactory: { RESPDecoder() }
        )
    }

    @Test("Deeply nested aggregates of every kind decode")
    func nestedAggregates() throws {
        let input = "*2\r\n%1\r\n+k\r\n~1\r\n*1\r\n>1\r\n:5\r\n*1\r\n*1\r\n*1\r\n$1\r\nx\r\n"
        let expected: RESPValue = .array([
            .map([RESPMapEntry(key: .simpleString(bytes("k")), value: .set([.array([.push([.integer(5)])])]))]),
            .array([.array([.array([.bulkString(bytes("x"))])])]),
        ])
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [(input, [expected])],
            decoderFactory: { RESPDecoder(limits: .init(maximumNestingDepth: 5)) }
        )
    }

    @Test("Attributes are kept when asked for")
    func keptAttributes() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                (
                    "|1\r\n+ttl\r\n:3600\r\n$2\r\nok\r\n",
                    [.attributed(
                        attributes: [RESPMapEntry(key: .simpleString(bytes("ttl")), value: .integer(3600))],
                        value: .bulkString(bytes("ok"))
                    )]
                )
            ],
            decoderFactory: { RESPDecoder(keepsAttributes: true) }
        )
    }

    @Test(
        "Truncated input returns nil and consumes nothing",
        arguments: [
            "", "+", "+OK", "+OK\r", ":12", "$5\r\nhel", "$5\r\nhello", "$5\r\nhello\r", "$-1\r",
            "*2\r\n:1\r\n", "*2\r\n$3\r\nfoo\r\n$3\r\nba", "%1\r\n+k\r\n", ">2\r\n+a\r\n", "|1\r\n+a\r\n+b\r\n",
            "=15\r\ntxt:Some", "$536870912\r\nabc",
        ]
    )
    func truncated(input: String) throws {
        var decoder = RESPDecoder()
        var buffer = bytes(input)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == 0)
        #expect(buffer.readableBytes == input.utf8.count)
    }

    @Test(
        "Malformed input throws the matching error code",
        arguments: [
            ("?foo\r\n", RESPDecodingError.Code.invalidType),
            ("\r\n", .invalidType),
            ("*1\r\nxyz\r\n", .invalidType),
            ("$-2\r\n", .invalidLength),
            ("*-5\r\n", .invalidLength),
            ("$abc\r\n", .invalidLength),
            ("$1x\r\n", .invalidLength),
            ("$\r\n", .invalidLength),
            ("$+3\r\nabc\r\n", .invalidLength),
            ("%-1\r\n", .invalidLength),
            ("~-1\r\n", .invalidLength),
            ("!-1\r\n", .invalidLength),
            ("$?\r\n", .invalidLength),
            (":12a\r\n", .invalidInteger),
            (":\r\n", .invalidInteger),
            (":-\r\n", .invalidInteger),
            (":9223372036854775808\r\n", .invalidInteger),
            (":1.5\r\n", .invalidInteger),
            ("#x\r\n", .invalidValue),
            ("#tt\r\n", .invalidValue),
            (",abc\r\n", .invalidValue),
            (",0x1p3\r\n", .invalidValue),
            (",infinity\r\n", .invalidValue),
            ("(12a\r\n", .invalidValue),
            ("_x\r\n", .invalidValue),
            ("=3\r\ntxt\r\n", .invalidValue),
            ("=5\r\ntxt!x\r\n", .invalidValue),
            ("+OK\rX", .missingCRLF),
            ("+OK\n", .missingCRLF),
            ("$3\r\nfooXY", .missingCRLF),
            ("$3\r\nfoo\nX", .missingCRLF),
            (":1\n\r", .missingCRLF),
            ("$99999999999999999999999\r\n", .tooLarge),
        ]
    )
    func malformed(input: String, code: RESPDecodingError.Code) throws {
        var decoder = RESPDecoder()
        var buffer = bytes(input)
        let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == code, "\(error)")
    }

    @Test("A bulk string over the configured limit is refused before its payload arrives")
    func bulkOverLimit() throws {
        var decoder = RESPDecoder(limits: .init(maximumBulkLength: 8))
        var atLimit = bytes("$8\r\n12345678\r\n")
        #expect(try decoder.decode(buffer: &atLimit) == .bulkString(bytes("12345678")))

        for header in ["$9\r\n", "!9\r\n", "=9\r\n", "$536870913\r\n"] {
            var buffer = bytes(header)
            let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
            #expect(error.code == .tooLarge)
        }
    }

    @Test("The default bulk limit is Redis's 512 MiB")
    func defaultBulkLimit() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("$536870913\r\n")
        let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .tooLarge)
    }

    @Test("Nesting beyond the configured depth is refused")
    func depthOverLimit() throws {
        var decoder = RESPDecoder(limits: .init(maximumNestingDepth: 3))
        var atLimit = bytes("*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(try decoder.decode(buffer: &atLimit) == .array([.array([.array([.integer(1)])])]))

        for input in ["*1\r\n*1\r\n*1\r\n*1\r\n", "*1\r\n%1\r\n~1\r\n>1\r\n", "*1\r\n*1\r\n*1\r\n|1\r\n"] {
            var buffer = bytes(input)
            let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
            #expect(error.code == .tooDeep)
        }
    }

    @Test("The default depth limit stops a hostile nesting without exhausting the stack")
    func defaultDepthLimit() throws {
        var decoder = RESPDecoder()
        var buffer = bytes(String(repeating: "*1\r\n", count: 100_000))
        let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .tooDeep)
    }

    @Test("Aggregates announcing more elements than allowed are refused before any is read")
    func countOverLimit() throws {
        var decoder = RESPDecoder(limits: .init(maximumAggregateCount: 4))
        var atLimit = bytes("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n")
        #expect(try decoder.decode(buffer: &atLimit) == .array([.integer(1), .integer(2), .integer(3), .integer(4)]))

        for input in ["*5\r\n", "~5\r\n", ">5\r\n", "%3\r\n", "|3\r\n", "*2147483647\r\n"] {
            var buffer = bytes(input)
            let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &buffer) }
            #expect(error.code == .tooLarge, "\(input)")
        }
    }

    @Test("A line that never ends is refused once it passes the line limit")
    func lineOverLimit() throws {
        var decoder = RESPDecoder(limits: .init(maximumLineLength: 4))
        var atLimit = bytes("+abcd\r\n")
        #expect(try decoder.decode(buffer: &atLimit) == .simpleString(bytes("abcd")))

        var waiting = bytes("+abcd")
        #expect(try decoder.decode(buffer: &waiting) == nil)

        var over = bytes("+abcde")
        let error = try #require(throws: RESPDecodingError.self) { try decoder.decode(buffer: &over) }
        #expect(error.code == .tooLarge)
    }

    @Test("A huge announced array with little data reserves nothing and waits")
    func hugeArrayWaits() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("*16777216\r\n:1\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == 0)
    }

    @Test("Values decode one at a time and leave the rest in the buffer")
    func oneAtATime() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("+OK\r\n:1\r\n$2\r\nh")
        #expect(try decoder.decode(buffer: &buffer) == .simpleString(bytes("OK")))
        #expect(try decoder.decode(buffer: &buffer) == .integer(1))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(String(buffer: buffer) == "$2\r\nh")
        buffer.writeString("i\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .bulkString(bytes("hi")))
        #expect(buffer.readableBytes == 0)
    }

    @Test("Every value the encoder writes decodes back to itself")
    func roundTrip() throws {
        let values: [RESPValue] = [
            .simpleString(bytes("OK")), .simpleError(bytes("ERR x")), .integer(-3), .integer(.min),
            .bulkString(bytes("a\r\nb")), .bulkString(nil), .array(nil), .array([]), .null, .boolean(true),
            .double(0.25), .double(-.infinity), .double(.nan), .bigNumber("-123456789012345678901234567890"),
            .bulkError(bytes("E")), .verbatimString(format: "mkd", bytes("# hi")),
            .map([RESPMapEntry(key: .integer(1), value: .array([.null]))]), .set([.boolean(false)]),
            .push([.bulkString(bytes("pong"))]),
            .attributed(attributes: [RESPMapEntry(key: .simpleString(bytes("a")), value: .null)], value: .integer(1)),
        ]
        var buffer = ByteBuffer()
        for value in values { RESPEncoder.encode(value, into: &buffer) }
        var decoder = RESPDecoder(keepsAttributes: true)
        for value in values {
            #expect(try decoder.decode(buffer: &buffer) == value)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test("Convenience accessors read strings, errors and nulls")
    func accessors() {
        #expect(RESPValue.simpleString(bytes("OK")).string == "OK")
        #expect(RESPValue.bulkString(bytes("v")).string == "v")
        #expect(RESPValue.bulkString(nil).string == nil)
        #expect(RESPValue.simpleError(bytes("NOSCRIPT no")).errorMessage == "NOSCRIPT no")
        #expect(RESPValue.bulkError(bytes("E")).errorMessage == "E")
        #expect(RESPValue.integer(1).errorMessage == nil)
        #expect(RESPValue.null.isNull && RESPValue.bulkString(nil).isNull && RESPValue.array(nil).isNull)
        #expect(!RESPValue.array([]).isNull)
    }
}
