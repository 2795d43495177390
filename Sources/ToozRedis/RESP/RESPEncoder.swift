import NIOCore

/// A value that can be sent as one bulk string argument of a Redis command.
///
/// Integers are sent as their decimal text, which is how Redis expects `PX 30000` or `EXPIRE k 5`.
package protocol RESPBulkConvertible {
    /// Writes `$<length>\r\n<bytes>\r\n`.
    func writeRESPBulkString(into buffer: inout ByteBuffer)
}

extension String: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        RESPEncoder.writeHeader(UInt8(ascii: "$"), self.utf8.count, into: &buffer)
        buffer.writeString(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Substring: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        RESPEncoder.writeHeader(UInt8(ascii: "$"), self.utf8.count, into: &buffer)
        buffer.writeSubstring(self)
        buffer.writeStaticString("\r\n")
    }
}

extension ByteBuffer: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        RESPEncoder.writeHeader(UInt8(ascii: "$"), self.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Array: RESPBulkConvertible where Element == UInt8 {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        RESPEncoder.writeHeader(UInt8(ascii: "$"), self.count, into: &buffer)
        buffer.writeBytes(self)
        buffer.writeStaticString("\r\n")
    }
}

extension Int: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        // Integers up to 15 digits fit Swift's small-string storage, so this does not allocate.
        String(self).writeRESPBulkString(into: &buffer)
    }
}

extension Int64: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        String(self).writeRESPBulkString(into: &buffer)
    }
}

extension UInt64: RESPBulkConvertible {
    package func writeRESPBulkString(into buffer: inout ByteBuffer) {
        String(self).writeRESPBulkString(into: &buffer)
    }
}

/// Writes Redis commands (arrays of bulk strings) and, for fake servers in tests, any ``RESPValue``.
package enum RESPEncoder {
    /// Appends one command, `*<n>\r\n` followed by each part as a bulk string.
    ///
    /// ```swift
    /// RESPEncoder.encodeCommand(["GET", "key"], into: &buffer)
    /// ```
    package static func encodeCommand(_ parts: [some RESPBulkConvertible], into buffer: inout ByteBuffer) {
        self.writeHeader(UInt8(ascii: "*"), parts.count, into: &buffer)
        for part in parts {
            part.writeRESPBulkString(into: &buffer)
        }
    }

    /// Appends one command whose parts have different types, without boxing them in an array.
    ///
    /// ```swift
    /// RESPEncoder.encodeCommand("SET", key, token, "NX", "PX", 30_000, into: &buffer)
    /// ```
    package static func encodeCommand<each Part: RESPBulkConvertible>(
        _ parts: repeat each Part,
        into buffer: inout ByteBuffer
    ) {
        var count = 0
        for _ in repeat each parts { count += 1 }
        self.writeHeader(UInt8(ascii: "*"), count, into: &buffer)
        for part in repeat each parts {
            part.writeRESPBulkString(into: &buffer)
        }
    }

    /// Appends the wire form of `value`, so tests can script a server's replies.
    ///
    /// The ``RESPDecoder`` decodes the result back to an equal value (attributes included).
    package static func encode(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let line):
            buffer.writeInteger(UInt8(ascii: "+"))
            buffer.writeImmutableBuffer(line)
            buffer.writeStaticString("\r\n")
        case .simpleError(let line):
            buffer.writeInteger(UInt8(ascii: "-"))
            buffer.writeImmutableBuffer(line)
            buffer.writeStaticString("\r\n")
        case .integer(let number):
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeString(String(number))
            buffer.writeStaticString("\r\n")
        case .bulkString(nil):
            buffer.writeStaticString("$-1\r\n")
        case .bulkString(.some(let payload)):
            payload.writeRESPBulkString(into: &buffer)
        case .array(nil):
            buffer.writeStaticString("*-1\r\n")
        case .array(.some(let elements)):
            self.writeAggregate(UInt8(ascii: "*"), elements, into: &buffer)
        case .null:
            buffer.writeStaticString("_\r\n")
        case .boolean(let flag):
            buffer.writeStaticString(flag ? "#t\r\n" : "#f\r\n")
        case .double(let number):
            buffer.writeInteger(UInt8(ascii: ","))
            if number.isNaN {
                buffer.writeStaticString("nan")
            } else if number.isInfinite {
                buffer.writeStaticString(number < 0 ? "-inf" : "inf")
            } else {
                buffer.writeString(String(number))
            }
            buffer.writeStaticString("\r\n")
        case .bigNumber(let digits):
            buffer.writeInteger(UInt8(ascii: "("))
            buffer.writeString(digits)
            buffer.writeStaticString("\r\n")
        case .bulkError(let payload):
            self.writeHeader(UInt8(ascii: "!"), payload.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(payload)
            buffer.writeStaticString("\r\n")
        case .verbatimString(let format, let payload):
            self.writeHeader(UInt8(ascii: "="), format.utf8.count + 1 + payload.readableBytes, into: &buffer)
            buffer.writeString(format)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeImmutableBuffer(payload)
            buffer.writeStaticString("\r\n")
        case .map(let pairs):
            self.writePairs(UInt8(ascii: "%"), pairs, into: &buffer)
        case .set(let elements):
            self.writeAggregate(UInt8(ascii: "~"), elements, into: &buffer)
        case .attributed(let attributes, let annotated):
            self.writePairs(UInt8(ascii: "|"), attributes, into: &buffer)
            self.encode(annotated, into: &buffer)
        case .push(let elements):
            self.writeAggregate(UInt8(ascii: ">"), elements, into: &buffer)
        }
    }

    private static func writeAggregate(_ type: UInt8, _ elements: [RESPValue], into buffer: inout ByteBuffer) {
        self.writeHeader(type, elements.count, into: &buffer)
        for element in elements {
            self.encode(element, into: &buffer)
        }
    }

    private static func writePairs(_ type: UInt8, _ pairs: [RESPMapEntry], into buffer: inout ByteBuffer) {
        self.writeHeader(type, pairs.count, into: &buffer)
        for pair in pairs {
            self.encode(pair.key, into: &buffer)
            self.encode(pair.value, into: &buffer)
        }
    }

    /// Writes `<type><decimal>\r\n` without going through `String`.
    static func writeHeader(_ type: UInt8, _ value: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var remainder = value
        repeat {
            buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(remainder / divisor))
            remainder %= divisor
            divisor /= 10
        } while divisor > 0
        buffer.writeStaticString("\r\n")
    }
}
