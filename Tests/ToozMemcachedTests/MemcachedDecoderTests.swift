import NIOCore
import NIOTestUtils
import Testing

@testable import ToozMemcached

@Suite("MemcachedDecoder")
struct MemcachedDecoderTests {
    static func decodeAll(_ text: String, limits: MemcachedDecoder.Limits = .init()) throws -> [MemcachedResponse] {
        var decoder = MemcachedDecoder(limits: limits)
        var buffer = ByteBuffer(string: text)
        var responses: [MemcachedResponse] = []
        while let response = try decoder.decode(buffer: &buffer) { responses.append(response) }
        return responses
    }

    static func decodingError(_ text: String, limits: MemcachedDecoder.Limits = .init()) -> MemcachedDecodingError? {
        #expect(throws: MemcachedDecodingError.self) { _ = try Self.decodeAll(text, limits: limits) }
    }

    @Test("Every reply kind decodes, with its flags, from split and coalesced input")
    func everyReplyKind() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("HD\r\n", [MemcachedResponse(.stored)]),
                ("HD c42\r\n", [MemcachedResponse(.stored, cas: 42)]),
                ("HD f7 c18446744073709551615 t-1\r\n", [MemcachedResponse(.stored, clientFlags: 7, cas: .max, ttl: -1)]),
                ("VA 5 f3 c9 t120\r\nhello\r\n", [MemcachedResponse(.value, value: Array("hello".utf8), clientFlags: 3, cas: 9, ttl: 120)]),
                ("VA 0\r\n\r\n", [MemcachedResponse(.value, value: [])]),
                // The data is counted, not scanned: CR LF inside it is data.
                ("VA 6 f0\r\na\r\nb\r\n\r\n", [MemcachedResponse(.value, value: Array("a\r\nb\r\n".utf8), clientFlags: 0)]),
                ("VA 2\r\n12\r\n", [MemcachedResponse(.value, value: Array("12".utf8))]),
                ("NF\r\n", [MemcachedResponse(.notFound)]),
                ("NS\r\n", [MemcachedResponse(.notStored)]),
                ("EX\r\n", [MemcachedResponse(.exists)]),
                ("EN\r\n", [MemcachedResponse(.miss)]),
                ("MN\r\n", [MemcachedResponse(.noop)]),
                // Flags this client does not read (key, opaque, size, base64, win) are skipped.
                ("HD kfoo Oab12 s5 b W Z c1\r\n", [MemcachedResponse(.stored, cas: 1)]),
                ("SERVER_ERROR out of memory storing object\r\n", [MemcachedResponse(.serverError("out of memory storing object"))]),
                ("CLIENT_ERROR bad command line format\r\n", [MemcachedResponse(.clientError("bad command line format"))]),
                ("ERROR\r\n", [MemcachedResponse(.error)]),
                ("HD c1\r\nEN\r\nVA 1 c2\r\nx\r\nMN\r\n", [
                    MemcachedResponse(.stored, cas: 1), MemcachedResponse(.miss),
                    MemcachedResponse(.value, value: [UInt8(ascii: "x")], cas: 2), MemcachedResponse(.noop),
                ]),
            ],
            decoderFactory: { MemcachedDecoder() }
        )
    }

    @Test func binaryValues() throws {
        var decoder = MemcachedDecoder()
        var buffer = ByteBuffer(string: "VA 4 f1\r\n")
        buffer.writeBytes([0, 255, 13, 10])
        buffer.writeString("\r\n")
        #expect(try decoder.decode(buffer: &buffer) == MemcachedResponse(.value, value: [0, 255, 13, 10], clientFlags: 1))
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: ["H", "HD", "HD\r", "HD c1", "VA 5 f1", "VA 5 f1\r\n", "VA 5 f1\r\nhel", "VA 5 f1\r\nhello", "VA 5 f1\r\nhello\r"])
    func truncatedFramesWait(prefix: String) throws {
        var decoder = MemcachedDecoder()
        var buffer = ByteBuffer(string: prefix)
        let before = buffer.readerIndex
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == before)
    }

    @Test func unknownStatusIsRejected() {
        let http = Self.decodingError("HTTP/1.1 400 Bad Request\r\n\r\n")
        #expect(http?.code == .invalidStatus)
        #expect(http?.message.contains("HTTP/1.1") == true)
        #expect(Self.decodingError("VALUE k 0 5\r\nhello\r\nEND\r\n")?.code == .invalidStatus)
        #expect(Self.decodingError("STORED\r\n")?.code == .invalidStatus)
        #expect(Self.decodingError("\r\n")?.code == .invalidStatus)
        #expect(Self.decodingError("hd\r\n")?.code == .invalidStatus)
    }

    @Test func badSizesAreRejected() {
        #expect(Self.decodingError("VA\r\n")?.code == .invalidSize)
        #expect(Self.decodingError("VA x\r\n")?.code == .invalidSize)
        #expect(Self.decodingError("VA -1\r\n")?.code == .invalidSize)
        #expect(Self.decodingError("VA 1x\r\nab\r\n")?.code == .invalidSize)
        #expect(Self.decodingError("VA 99999999999999999999999\r\n")?.code == .invalidSize)
    }

    @Test func badFlagsAreRejected() {
        #expect(Self.decodingError("HD cabc\r\n")?.code == .invalidFlag)
        #expect(Self.decodingError("HD f4294967296\r\n")?.code == .invalidFlag)
        #expect(Self.decodingError("HD t-2\r\n")?.code == .invalidFlag)
        #expect(Self.decodingError("VA 1 c\r\nx\r\n")?.code == .invalidFlag)
    }

    @Test func valueWithoutCRLFIsRejected() {
        #expect(Self.decodingError("VA 3\r\nabcde\r\n")?.code == .missingCRLF)
        #expect(Self.decodingError("VA 3\r\nabc\n\r")?.code == .missingCRLF)
        #expect(Self.decodingError("HD\n")?.code == .missingCRLF)
        #expect(Self.decodingError("HD\rc1\r\n")?.code == .missingCRLF)
    }

    @Test func overLimitLinesAndValuesAreRejected() {
        let limits = MemcachedDecoder.Limits(maximumLineLength: 16, maximumValueLength: 8)
        // A line at the limit is fine; one byte more, with or without its CR LF, is not.
        #expect((try? Self.decodeAll("HD c123456789012\r\n", limits: limits)) == [MemcachedResponse(.stored, cas: 123_456_789_012)])
        #expect(Self.decodingError("HD c1234567890123\r\n", limits: limits)?.code == .tooLarge)
        #expect(Self.decodingError(String(repeating: "H", count: 17), limits: limits)?.code == .tooLarge)
        #expect((try? Self.decodeAll("VA 8\r\n12345678\r\n", limits: limits))?.first?.value?.count == 8)
        // Refused from the line alone, before any of the value arrives.
        let value = Self.decodingError("VA 9\r\n", limits: limits)
        #expect(value?.code == .tooLarge)
        #expect(value?.message.contains("9 bytes") == true)
        // The defaults: 8 KiB lines, values up to a little over 1 MiB.
        #expect(Self.decodingError("HD " + String(repeating: "k", count: 8 * 1024) + "\r\n")?.code == .tooLarge)
        #expect(Self.decodingError("VA \(2 * 1024 * 1024)\r\n")?.code == .tooLarge)
        #expect((try? Self.decodeAll("VA \(1024 * 1024)\r\n")) == [])
    }
}
