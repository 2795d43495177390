import NIOCore

/// One logical packet: a payload and the sequence ids it was framed with.
///
/// A payload of 16 MiB − 1 bytes or more travels as several physical packets, each with the
/// next sequence id; ``MySQLPacketDecoder`` joins them, so `firstSequenceID` is the id of the
/// first one and `lastSequenceID` of the last (equal for the usual single packet).
package struct MySQLPacket: Sendable, Hashable {
    package var firstSequenceID: UInt8
    package var lastSequenceID: UInt8
    package var payload: ByteBuffer

    package init(sequenceID: UInt8, payload: ByteBuffer) {
        self.firstSequenceID = sequenceID
        self.lastSequenceID = sequenceID
        self.payload = payload
    }

    package init(firstSequenceID: UInt8, lastSequenceID: UInt8, payload: ByteBuffer) {
        self.firstSequenceID = firstSequenceID
        self.lastSequenceID = lastSequenceID
        self.payload = payload
    }

    /// The payload's first byte, which tells most packets apart (`0x00` OK, `0xFF` ERR, ...).
    package var header: UInt8? { self.payload.getInteger(at: self.payload.readerIndex, as: UInt8.self) }
}

/// Splits the byte stream into logical packets: a 3-byte little-endian payload length, a
/// sequence id, the payload; physical packets of exactly 0xFFFFFF bytes continue in the next.
///
/// The decoder is pure: until a logical packet is complete the buffer is left untouched and
/// `nil` is returned. Within one logical packet the sequence ids must follow each other
/// (whether the first one is expected is the connection state machine's business). The total
/// payload is checked against ``maximumPayloadLength`` as soon as the headers show it, so a
/// broken or hostile peer cannot make the client buffer more than that.
package struct MySQLPacketDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = MySQLPacket

    /// The largest logical payload accepted. Default 64 MiB.
    package var maximumPayloadLength: Int

    package init(maximumPayloadLength: Int = 64 * 1024 * 1024) {
        self.maximumPayloadLength = maximumPayloadLength
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> MySQLPacket? {
        // First pass: read headers only, to learn whether every part has arrived.
        var offset = buffer.readerIndex
        var total = 0
        var parts = 0
        var firstSequenceID: UInt8 = 0
        var lastSequenceID: UInt8 = 0
        while true {
            guard let (low, high, sequenceID) = buffer.getMultipleIntegers(at: offset, endianness: .little, as: (UInt16, UInt8, UInt8).self)
            else { return nil }
            let length = Int(low) | Int(high) << 16
            if parts == 0 {
                firstSequenceID = sequenceID
            } else if sequenceID != lastSequenceID &+ 1 {
                throw MySQLDecodingError(
                    .wrongSequence,
                    "part \(parts + 1) of a split packet has sequence id \(sequenceID), expected \(lastSequenceID &+ 1)"
                )
            }
            lastSequenceID = sequenceID
            parts += 1
            total += length
            guard total <= self.maximumPayloadLength else {
                throw MySQLDecodingError(.tooLarge, "a packet of more than \(self.maximumPayloadLength) bytes")
            }
            offset += 4
            guard buffer.writerIndex - offset >= length else { return nil }
            offset += length
            if length < MySQLProtocol.maximumPacketPayload { break }
        }

        // Second pass: everything is there.
        if parts == 1 {
            buffer.moveReaderIndex(forwardBy: 4)
            guard let payload = buffer.readSlice(length: total) else { return nil }
            return MySQLPacket(firstSequenceID: firstSequenceID, lastSequenceID: lastSequenceID, payload: payload)
        }
        var payload = ByteBuffer()
        payload.reserveCapacity(total)
        for _ in 0..<parts {
            guard let (low, high, _) = buffer.readMultipleIntegers(endianness: .little, as: (UInt16, UInt8, UInt8).self),
                var part = buffer.readSlice(length: Int(low) | Int(high) << 16)
            else { return nil }
            payload.writeBuffer(&part)
        }
        return MySQLPacket(firstSequenceID: firstSequenceID, lastSequenceID: lastSequenceID, payload: payload)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MySQLPacket? {
        try self.decode(buffer: &buffer)
    }
}

/// Frames payloads into physical packets, splitting long ones.
package enum MySQLPacketEncoder {
    /// Writes `payload` framed, starting at `sequenceID`, and returns the sequence id after the
    /// last physical packet written.
    @discardableResult
    package static func write(_ payload: ByteBuffer, sequenceID: UInt8, into out: inout ByteBuffer) -> UInt8 {
        var payload = payload
        var sequenceID = sequenceID
        out.reserveCapacity(minimumWritableBytes: payload.readableBytes + 4 * (payload.readableBytes / MySQLProtocol.maximumPacketPayload + 1))
        while true {
            let length = min(payload.readableBytes, MySQLProtocol.maximumPacketPayload)
            out.writeMultipleIntegers(UInt16(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 16), sequenceID, endianness: .little)
            if var part = payload.readSlice(length: length) {
                out.writeBuffer(&part)
            }
            sequenceID &+= 1
            // A part of exactly the maximum says "more follows", so an exact multiple ends with an empty part.
            if length < MySQLProtocol.maximumPacketPayload { return sequenceID }
        }
    }

    /// `payload` framed, starting at `sequenceID`.
    package static func frame(_ payload: ByteBuffer, sequenceID: UInt8) -> (bytes: ByteBuffer, nextSequenceID: UInt8) {
        var out = ByteBuffer()
        let next = self.write(payload, sequenceID: sequenceID, into: &out)
        return (out, next)
    }
}
