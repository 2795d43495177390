import NIOCore

// Reading and writing the protocol's basic types. Every read is bounds-checked and throws
// `MySQLDecodingError` on a short or malformed payload; none traps, whatever the bytes.

extension ByteBuffer {
    /// Reads a little-endian fixed-width integer, or throws `truncated` naming `field`.
    package mutating func mysqlReadInteger<T: FixedWidthInteger>(
        as type: T.Type = T.self,
        _ field: String
    ) throws(MySQLDecodingError) -> T {
        guard let value = self.readInteger(endianness: .little, as: T.self) else {
            throw MySQLDecodingError(.truncated, "the packet ends before \(field)")
        }
        return value
    }

    /// Reads a 3-byte little-endian integer.
    package mutating func mysqlReadUInt24(_ field: String) throws(MySQLDecodingError) -> UInt32 {
        guard let (low, high) = self.readMultipleIntegers(endianness: .little, as: (UInt16, UInt8).self) else {
            throw MySQLDecodingError(.truncated, "the packet ends before \(field)")
        }
        return UInt32(low) | UInt32(high) << 16
    }

    /// Reads `length` bytes.
    package mutating func mysqlReadBytes(length: Int, _ field: String) throws(MySQLDecodingError) -> [UInt8] {
        guard length >= 0, let bytes = self.readBytes(length: length) else {
            throw MySQLDecodingError(.truncated, "the packet ends inside \(field)")
        }
        return bytes
    }

    /// Reads a length-encoded integer. `0xFB` (NULL in a row) and `0xFF` are no integer here.
    package mutating func mysqlReadLengthEncodedInteger(_ field: String) throws(MySQLDecodingError) -> UInt64 {
        guard let value = try self.mysqlReadLengthEncodedIntegerOrNull(field) else {
            throw MySQLDecodingError(.malformed, "\(field) is NULL (0xFB) where a length-encoded integer must be")
        }
        return value
    }

    /// Reads a length-encoded integer; `nil` for the NULL marker `0xFB`.
    package mutating func mysqlReadLengthEncodedIntegerOrNull(_ field: String) throws(MySQLDecodingError) -> UInt64? {
        let first: UInt8 = try self.mysqlReadInteger(field)
        switch first {
        case 0..<0xFB:
            return UInt64(first)
        case 0xFB:
            return nil
        case 0xFC:
            return UInt64(try self.mysqlReadInteger(as: UInt16.self, field))
        case 0xFD:
            return UInt64(try self.mysqlReadUInt24(field))
        case 0xFE:
            return try self.mysqlReadInteger(as: UInt64.self, field)
        default:
            throw MySQLDecodingError(.malformed, "\(field) starts with 0xFF, which begins no length-encoded integer")
        }
    }

    /// Reads a length-encoded string as bytes; `nil` for NULL (`0xFB`).
    package mutating func mysqlReadLengthEncodedBytesOrNull(_ field: String) throws(MySQLDecodingError) -> [UInt8]? {
        guard let length = try self.mysqlReadLengthEncodedIntegerOrNull(field) else { return nil }
        // Checked before the conversion: a hostile 8-byte length must neither trap nor allocate.
        guard length <= UInt64(self.readableBytes) else {
            throw MySQLDecodingError(.truncated, "\(field) claims \(length) bytes but the packet holds \(self.readableBytes) more")
        }
        return try self.mysqlReadBytes(length: Int(length), field)
    }

    /// Reads a length-encoded string as bytes; NULL is malformed here.
    package mutating func mysqlReadLengthEncodedBytes(_ field: String) throws(MySQLDecodingError) -> [UInt8] {
        guard let bytes = try self.mysqlReadLengthEncodedBytesOrNull(field) else {
            throw MySQLDecodingError(.malformed, "\(field) is NULL (0xFB) where a string must be")
        }
        return bytes
    }

    /// Reads a length-encoded string, decoded as UTF-8 (invalid sequences are replaced).
    package mutating func mysqlReadLengthEncodedString(_ field: String) throws(MySQLDecodingError) -> String {
        String(decoding: try self.mysqlReadLengthEncodedBytes(field), as: UTF8.self)
    }

    /// Reads up to a NUL byte and skips it. With `orEnd`, the end of the packet also ends the
    /// string (some servers omit the last NUL of the handshake's plugin name).
    package mutating func mysqlReadNullTerminatedBytes(_ field: String, orEnd: Bool = false) throws(MySQLDecodingError) -> [UInt8] {
        let view = self.readableBytesView
        if let nul = view.firstIndex(of: 0) {
            let length = nul - view.startIndex
            let bytes = try self.mysqlReadBytes(length: length, field)
            self.moveReaderIndex(forwardBy: 1)
            return bytes
        }
        guard orEnd else {
            throw MySQLDecodingError(.truncated, "\(field) is not terminated by NUL")
        }
        return try self.mysqlReadBytes(length: self.readableBytes, field)
    }

    /// Reads a NUL-terminated string, decoded as UTF-8.
    package mutating func mysqlReadNullTerminatedString(_ field: String, orEnd: Bool = false) throws(MySQLDecodingError) -> String {
        String(decoding: try self.mysqlReadNullTerminatedBytes(field, orEnd: orEnd), as: UTF8.self)
    }

    /// Skips `length` bytes.
    package mutating func mysqlSkip(_ length: Int, _ field: String) throws(MySQLDecodingError) {
        guard length >= 0, self.readableBytes >= length else {
            throw MySQLDecodingError(.truncated, "the packet ends inside \(field)")
        }
        self.moveReaderIndex(forwardBy: length)
    }

    // MARK: - Writing

    /// Writes a length-encoded integer in its shortest form.
    @discardableResult
    package mutating func mysqlWriteLengthEncodedInteger(_ value: UInt64) -> Int {
        switch value {
        case 0..<0xFB:
            return self.writeInteger(UInt8(value))
        case 0xFB...0xFFFF:
            return self.writeInteger(UInt8(0xFC)) + self.writeInteger(UInt16(value), endianness: .little)
        case 0x1_0000...0xFF_FFFF:
            return self.writeInteger(UInt8(0xFD)) + self.writeInteger(UInt16(truncatingIfNeeded: value), endianness: .little)
                + self.writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        default:
            return self.writeInteger(UInt8(0xFE)) + self.writeInteger(value, endianness: .little)
        }
    }

    /// Writes a length-encoded string.
    @discardableResult
    package mutating func mysqlWriteLengthEncodedBytes(_ bytes: some Collection<UInt8>) -> Int {
        self.mysqlWriteLengthEncodedInteger(UInt64(bytes.count)) + self.writeBytes(bytes)
    }

    /// Writes the bytes and a NUL.
    @discardableResult
    package mutating func mysqlWriteNullTerminated(_ bytes: some Sequence<UInt8>) -> Int {
        self.writeBytes(bytes) + self.writeInteger(UInt8(0))
    }
}
