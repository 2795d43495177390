import NIOCore
import NIOTestUtils
import Testing
import ToozMySQL

@Suite("MySQL packet framing and length-encoded values")
struct MySQLPacketTests {
    @Test func decodesPacketsWhateverTheirSlicing() throws {
        let ok = MySQLFixtures.ok()
        let row = MySQLFixtures.row(["a", nil])
        let input = MySQLFixtures.frame(ok, 1) + MySQLFixtures.frame(row, 2) + MySQLFixtures.frame(ByteBuffer(), 3)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (
                    ByteBuffer(bytes: input),
                    [
                        MySQLPacket(sequenceID: 1, payload: ok), MySQLPacket(sequenceID: 2, payload: row),
                        MySQLPacket(sequenceID: 3, payload: ByteBuffer()),
                    ]
                )
            ],
            decoderFactory: { MySQLPacketDecoder() }
        )
    }

    @Test func incompletePacketsWait() throws {
        var decoder = MySQLPacketDecoder()
        let bytes = MySQLFixtures.frame(MySQLFixtures.ok(), 1)
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<cut])
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readableBytes == cut, "a short input is left untouched")
        }
    }

    @Test func splitsAndJoinsPayloadsOver16MiB() throws {
        // Distinct bytes around the split, so a join in the wrong place or order shows.
        var payload = ByteBuffer(repeating: 0x61, count: MySQLProtocol.maximumPacketPayload + 10)
        payload.setBytes([1, 2, 3], at: 0)
        payload.setBytes([4, 5, 6, 7], at: MySQLProtocol.maximumPacketPayload - 2)
        payload.setBytes([8, 9], at: MySQLProtocol.maximumPacketPayload + 8)
        let (framed, next) = MySQLPacketEncoder.frame(payload, sequenceID: 7)
        #expect(next == 9)
        #expect(framed.readableBytes == payload.readableBytes + 8)
        #expect(Array(framed.readableBytesView.prefix(4)) == [0xFF, 0xFF, 0xFF, 7])
        #expect(framed.getBytes(at: 4 + MySQLProtocol.maximumPacketPayload, length: 4) == [10, 0, 0, 8])

        var decoder = MySQLPacketDecoder()
        var input = framed
        // Arriving in pieces: nothing until the last byte.
        var partial = input.readSlice(length: framed.readableBytes - 1)!
        #expect(try decoder.decode(buffer: &partial) == nil)
        input = framed
        let packet = try #require(try decoder.decode(buffer: &input))
        #expect(packet.firstSequenceID == 7)
        #expect(packet.lastSequenceID == 8)
        #expect(packet.payload == payload)
        #expect(input.readableBytes == 0)
    }

    @Test func aPayloadOfExactly16MiBMinus1EndsWithAnEmptyPacket() throws {
        let payload = ByteBuffer(repeating: 0x61, count: MySQLProtocol.maximumPacketPayload)
        let (framed, next) = MySQLPacketEncoder.frame(payload, sequenceID: 255)
        #expect(next == 1, "sequence ids wrap")
        #expect(framed.readableBytes == payload.readableBytes + 8)
        #expect(framed.getBytes(at: framed.readableBytes - 4, length: 4) == [0, 0, 0, 0])

        var decoder = MySQLPacketDecoder()
        var input = framed
        let packet = try #require(try decoder.decode(buffer: &input))
        #expect(packet.payload.readableBytes == MySQLProtocol.maximumPacketPayload)
        #expect(packet.firstSequenceID == 255)
        #expect(packet.lastSequenceID == 0)

        // Without the empty trailer, the packet is not complete.
        var truncated = framed.getSlice(at: 0, length: framed.readableBytes - 4)!
        #expect(try decoder.decode(buffer: &truncated) == nil)
    }

    @Test func aSplitPacketWithAWrongSequenceIDIsRejected() throws {
        var framed = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 3])
        framed.writeRepeatingByte(0, count: MySQLProtocol.maximumPacketPayload)
        framed.writeBytes([1, 0, 0, 5, 0x42])
        var decoder = MySQLPacketDecoder()
        #expect(throws: MySQLDecodingError.self) { try decoder.decode(buffer: &framed) }
    }

    @Test func oversizedPacketsAreRejectedFromTheirHeader() throws {
        var decoder = MySQLPacketDecoder(maximumPayloadLength: 1000)
        var input = ByteBuffer(bytes: [0xE9, 0x03, 0, 0])  // 1001 bytes announced
        #expect {
            try decoder.decode(buffer: &input)
        } throws: { error in
            (error as? MySQLDecodingError)?.code == .tooLarge
        }
    }

    @Test func lengthEncodedIntegersRoundTripInTheirShortestForm() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (250, 1), (251, 3), (0xFFFF, 3), (0x1_0000, 4), (0xFF_FFFF, 4), (0x100_0000, 9), (.max, 9),
        ]
        for (value, size) in cases {
            var buffer = ByteBuffer()
            #expect(buffer.mysqlWriteLengthEncodedInteger(value) == size)
            #expect(Array(buffer.readableBytesView) == MySQLFixtures.lenenc(value))
            #expect(try buffer.mysqlReadLengthEncodedInteger("v") == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func lengthEncodedReadsAreBoundsChecked() throws {
        for bytes: [UInt8] in [[], [0xFC], [0xFC, 1], [0xFD, 1, 2], [0xFE, 1, 2, 3, 4, 5, 6, 7], [0xFF]] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MySQLDecodingError.self) { try buffer.mysqlReadLengthEncodedInteger("v") }
        }
        var null = ByteBuffer(bytes: [0xFB])
        #expect(try null.mysqlReadLengthEncodedBytesOrNull("v") == nil)
        // A string longer than the packet, including an absurd 8-byte length.
        for bytes: [UInt8] in [[3, 0x61, 0x62], [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MySQLDecodingError.self) { try buffer.mysqlReadLengthEncodedBytesOrNull("v") }
        }
        var unterminated = ByteBuffer(bytes: [0x61, 0x62])
        #expect(throws: MySQLDecodingError.self) { try unterminated.mysqlReadNullTerminatedString("v") }
    }
}
