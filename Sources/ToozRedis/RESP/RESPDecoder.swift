import NIOCore

/// Decodes RESP2 and RESP3 replies into ``RESPValue``s, one complete value per call.
///
/// The decoder is pure: it keeps no state between values, so a short input leaves the buffer
/// untouched and returns `nil` until the rest arrives. Every length and count is checked against
/// ``Limits`` before anything is reserved, so a hostile or broken server cannot make the client
/// allocate more than it actually sent. Malformed input throws ``RESPDecodingError``; the stream is
/// then unusable and the connection must be closed.
package struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = RESPValue

    /// Bounds on what the decoder accepts, checked before any payload is read.
    package struct Limits: Sendable, Hashable {
        /// The largest bulk string, bulk error or verbatim string payload, in bytes (Redis's own cap: 512 MiB).
        package var maximumBulkLength: Int
        /// How deeply aggregates (arrays, maps, sets, pushes, attributes) may nest; a top-level array is depth 1.
        package var maximumNestingDepth: Int
        /// The most elements one aggregate may announce (a map's pairs count twice).
        package var maximumAggregateCount: Int
        /// The longest line (simple string, error, number) before its `\r\n`, in bytes.
        package var maximumLineLength: Int

        package init(
            maximumBulkLength: Int = 512 * 1024 * 1024,
            maximumNestingDepth: Int = 64,
            maximumAggregateCount: Int = 1 << 24,
            maximumLineLength: Int = 64 * 1024
        ) {
            self.maximumBulkLength = maximumBulkLength
            self.maximumNestingDepth = maximumNestingDepth
            self.maximumAggregateCount = maximumAggregateCount
            self.maximumLineLength = maximumLineLength
        }
    }

    /// The limits this decoder enforces.
    package var limits: Limits
    /// Whether RESP3 attributes are returned as ``RESPValue/attributed(attributes:value:)``;
    /// when `false` (the default) they are validated and dropped, leaving only the annotated reply.
    package var keepsAttributes: Bool

    package init(limits: Limits = Limits(), keepsAttributes: Bool = false) {
        self.limits = limits
        self.keepsAttributes = keepsAttributes
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        let start = buffer.readerIndex
        guard let value = try self.parseValue(from: &buffer, depth: 0) else {
            // Re-parsing from the start later is simpler than keeping a resumable parse stack,
            // and the limits bound how much is re-read.
            buffer.moveReaderIndex(to: start)
            return nil
        }
        return value
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try self.decode(buffer: &buffer)
    }
}

// MARK: - Parsing

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")

extension RESPDecoder {
    /// Parses one value at aggregate `depth`; `nil` means more bytes are needed (the reader index is then meaningless).
    private func parseValue(from buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        var attributes: [RESPMapEntry] = []
        // Attributes are consumed in a loop rather than by recursion, so a long run of them
        // cannot grow the stack.
        while true {
            guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
            if type == UInt8(ascii: "|") {
                guard let pairs = try self.parsePairs(from: &buffer, depth: depth, kind: "attribute") else { return nil }
                if self.keepsAttributes { attributes.append(contentsOf: pairs) }
                continue
            }
            guard let value = try self.parseValue(type: type, from: &buffer, depth: depth) else { return nil }
            if self.keepsAttributes && !attributes.isEmpty {
                return .attributed(attributes: attributes, value: value)
            }
            return value
        }
    }

    private func parseValue(type: UInt8, from buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        switch type {
        case UInt8(ascii: "+"):
            return try self.readLine(from: &buffer).map { .simpleString($0) }

        case UInt8(ascii: "-"):
            return try self.readLine(from: &buffer).map { .simpleError($0) }

        case UInt8(ascii: ":"):
            guard let line = try self.readLine(from: &buffer) else { return nil }
            guard let value = Self.parseSignedInteger(line) else {
                throw RESPDecodingError(.invalidInteger, "integer reply is not a 64-bit decimal")
            }
            return .integer(value)

        case UInt8(ascii: "$"):
            guard let length = try self.readLength(from: &buffer, allowsNull: true, kind: "bulk string") else { return nil }
            if length == -1 { return .bulkString(nil) }
            return try self.readBulkPayload(length: length, from: &buffer).map { .bulkString($0) }

        case UInt8(ascii: "!"):
            guard let length = try self.readLength(from: &buffer, allowsNull: false, kind: "bulk error") else { return nil }
            return try self.readBulkPayload(length: length, from: &buffer).map { .bulkError($0) }

        case UInt8(ascii: "="):
            guard let length = try self.readLength(from: &buffer, allowsNull: false, kind: "verbatim string") else { return nil }
            guard var payload = try self.readBulkPayload(length: length, from: &buffer) else { return nil }
            guard length >= 4, payload.getInteger(at: payload.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":"),
                let format = payload.readString(length: 3)
            else {
                throw RESPDecodingError(.invalidValue, "verbatim string lacks its 'fmt:' prefix")
            }
            payload.moveReaderIndex(forwardBy: 1)
            return .verbatimString(format: format, payload)

        case UInt8(ascii: "*"):
            guard let count = try self.readLength(from: &buffer, allowsNull: true, kind: "array") else { return nil }
            if count == -1 { return .array(nil) }
            return try self.parseElements(count: count, from: &buffer, depth: depth).map { .array($0) }

        case UInt8(ascii: "~"):
            guard let count = try self.readLength(from: &buffer, allowsNull: false, kind: "set") else { return nil }
            return try self.parseElements(count: count, from: &buffer, depth: depth).map { .set($0) }

        case UInt8(ascii: ">"):
            guard let count = try self.readLength(from: &buffer, allowsNull: false, kind: "push") else { return nil }
            return try self.parseElements(count: count, from: &buffer, depth: depth).map { .push($0) }

        case UInt8(ascii: "%"):
            return try self.parsePairs(from: &buffer, depth: depth, kind: "map").map { .map($0) }

        case UInt8(ascii: "_"):
            guard let line = try self.readLine(from: &buffer) else { return nil }
            guard line.readableBytes == 0 else { throw RESPDecodingError(.invalidValue, "null has a body") }
            return .null

        case UInt8(ascii: "#"):
            guard let line = try self.readLine(from: &buffer) else { return nil }
            guard line.readableBytes == 1, let flag = line.readableBytesView.first,
                flag == UInt8(ascii: "t") || flag == UInt8(ascii: "f")
            else {
                throw RESPDecodingError(.invalidValue, "boolean is neither 't' nor 'f'")
            }
            return .boolean(flag == UInt8(ascii: "t"))

        case UInt8(ascii: ","):
            guard let line = try self.readLine(from: &buffer) else { return nil }
            guard let value = Self.parseDouble(line) else {
                throw RESPDecodingError(.invalidValue, "double reply is not a number")
            }
            return .double(value)

        case UInt8(ascii: "("):
            guard let line = try self.readLine(from: &buffer) else { return nil }
            guard let text = Self.parseBigNumber(line) else {
                throw RESPDecodingError(.invalidValue, "big number reply is not a decimal")
            }
            return .bigNumber(text)

        default:
            throw RESPDecodingError(.invalidType, "unknown RESP type byte 0x\(String(type, radix: 16))")
        }
    }

    private func parseElements(count: Int, from buffer: inout ByteBuffer, depth: Int) throws -> [RESPValue]? {
        try self.checkAggregate(count: count, depth: depth)
        var elements: [RESPValue] = []
        // Every element takes at least three bytes ("+\r\n"), so this never reserves more than was received.
        elements.reserveCapacity(min(count, buffer.readableBytes / 3))
        for _ in 0..<count {
            guard let element = try self.parseValue(from: &buffer, depth: depth + 1) else { return nil }
            elements.append(element)
        }
        return elements
    }

    private func parsePairs(from buffer: inout ByteBuffer, depth: Int, kind: String) throws -> [RESPMapEntry]? {
        guard let count = try self.readLength(from: &buffer, allowsNull: false, kind: kind) else { return nil }
        guard count <= self.limits.maximumAggregateCount / 2 else {
            throw RESPDecodingError(.tooLarge, "\(kind) of \(count) pairs exceeds the limit of \(self.limits.maximumAggregateCount) elements")
        }
        try self.checkAggregate(count: count * 2, depth: depth)
        var pairs: [RESPMapEntry] = []
        pairs.reserveCapacity(min(count, buffer.readableBytes / 6))
        for _ in 0..<count {
            guard let key = try self.parseValue(from: &buffer, depth: depth + 1) else { return nil }
            guard let value = try self.parseValue(from: &buffer, depth: depth + 1) else { return nil }
            pairs.append(RESPMapEntry(key: key, value: value))
        }
        return pairs
    }

    private func checkAggregate(count: Int, depth: Int) throws {
        guard depth < self.limits.maximumNestingDepth else {
            throw RESPDecodingError(.tooDeep, "aggregates nested deeper than \(self.limits.maximumNestingDepth)")
        }
        guard count <= self.limits.maximumAggregateCount else {
            throw RESPDecodingError(.tooLarge, "aggregate of \(count) elements exceeds the limit of \(self.limits.maximumAggregateCount)")
        }
    }

    /// Reads a bulk payload and its `\r\n`; `nil` until all `length + 2` bytes are there.
    private func readBulkPayload(length: Int, from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard length <= self.limits.maximumBulkLength else {
            throw RESPDecodingError(.tooLarge, "bulk of \(length) bytes exceeds the limit of \(self.limits.maximumBulkLength)")
        }
        guard buffer.readableBytes >= length + 2 else { return nil }
        let payload = buffer.readSlice(length: length)!
        guard buffer.readInteger(as: UInt8.self) == cr, buffer.readInteger(as: UInt8.self) == lf else {
            throw RESPDecodingError(.missingCRLF, "bulk payload is not followed by CRLF")
        }
        return payload
    }

    /// Reads the length line of a bulk or aggregate: plain digits, or `-1` where RESP2 allows a null.
    private func readLength(from buffer: inout ByteBuffer, allowsNull: Bool, kind: String) throws -> Int? {
        guard let line = try self.readLine(from: &buffer) else { return nil }
        if allowsNull, line.readableBytes == 2, line.readableBytesView.elementsEqual("-1".utf8) {
            return -1
        }
        guard line.readableBytes > 0 else {
            throw RESPDecodingError(.invalidLength, "\(kind) length is empty")
        }
        var value = 0
        for byte in line.readableBytesView {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RESPDecodingError(.invalidLength, "\(kind) length is not a non-negative decimal")
            }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
            guard !o1, !o2 else { throw RESPDecodingError(.tooLarge, "\(kind) length overflows") }
            value = sum
        }
        return value
    }

    /// Reads up to `\r\n` and returns the bytes before it; `nil` if the terminator has not arrived.
    /// A lone `\r` or `\n` inside a line is malformed, not data.
    private func readLine(from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let maximum = self.limits.maximumLineLength
        let lineLength: Int? = try buffer.withUnsafeReadableBytes { bytes in
            let scanEnd = min(bytes.count, maximum + 1)
            var index = 0
            while index < scanEnd {
                switch bytes[index] {
                case cr:
                    guard index + 1 < bytes.count else { return nil }
                    guard bytes[index + 1] == lf else {
                        throw RESPDecodingError(.missingCRLF, "CR in a line is not followed by LF")
                    }
                    return index
                case lf:
                    throw RESPDecodingError(.missingCRLF, "line ends in a bare LF")
                default:
                    index += 1
                }
            }
            if bytes.count > maximum {
                throw RESPDecodingError(.tooLarge, "line longer than \(maximum) bytes")
            }
            return nil
        }
        guard let lineLength else { return nil }
        let line = buffer.readSlice(length: lineLength)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func parseSignedInteger(_ line: ByteBuffer) -> Int64? {
        var digits = line.readableBytesView[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        // Accumulate negatively so that Int64.min parses without overflow.
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (difference, o2) = times10.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = difference
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    private static func parseDouble(_ line: ByteBuffer) -> Double? {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan", "+nan": return .nan
        default: break
        }
        // Swift's Double(String) also accepts hex floats and "infinity"; RESP allows only decimals.
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+")
        }
        guard allowed, !text.isEmpty else { return nil }
        return Double(text)
    }

    private static func parseBigNumber(_ line: ByteBuffer) -> String? {
        var digits = line.readableBytesView[...]
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return String(buffer: line)
    }
}
