import NIOCore
import Tooz

/// Writes jute's binary encoding (ZooKeeper's `BinaryOutputArchive`) into a `ByteBuffer`.
///
/// Every integer is big-endian; a `boolean` is one byte; a `buffer` and a `ustring` are an `int`
/// length followed by the bytes (UTF-8 for strings), with length `-1` for null; a `vector` is an
/// `int` count followed by its elements, `-1` for null. A record is its fields in order, with no
/// framing of its own.
package struct JuteWriter {
    /// The bytes written so far.
    package var buffer: ByteBuffer

    package init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
    }

    package mutating func writeInt(_ value: Int32) {
        self.buffer.writeInteger(value, endianness: .big)
    }

    package mutating func writeLong(_ value: Int64) {
        self.buffer.writeInteger(value, endianness: .big)
    }

    package mutating func writeBool(_ value: Bool) {
        self.buffer.writeInteger(value ? UInt8(1) : UInt8(0))
    }

    /// A jute `buffer`; `nil` is written as length `-1`.
    package mutating func writeBuffer(_ bytes: [UInt8]?) throws(ToozError) {
        guard let bytes else {
            self.writeInt(-1)
            return
        }
        try self.writeInt(Self.length(bytes.count, of: "buffer"))
        self.buffer.writeBytes(bytes)
    }

    /// A jute `ustring` (UTF-8); `nil` is written as length `-1`.
    package mutating func writeString(_ string: String?) throws(ToozError) {
        guard let string else {
            self.writeInt(-1)
            return
        }
        try self.writeInt(Self.length(string.utf8.count, of: "string"))
        self.buffer.writeString(string)
    }

    /// A jute `vector`; `nil` is written as count `-1`.
    package mutating func writeVector<Element>(
        _ elements: [Element]?,
        _ writeElement: (inout JuteWriter, Element) throws(ToozError) -> Void
    ) throws(ToozError) {
        guard let elements else {
            self.writeInt(-1)
            return
        }
        try self.writeInt(Self.length(elements.count, of: "vector"))
        for element in elements {
            try writeElement(&self, element)
        }
    }

    /// A `vector<ustring>`.
    package mutating func writeStringVector(_ strings: [String]?) throws(ToozError) {
        try self.writeVector(strings) { (writer, string) throws(ToozError) in try writer.writeString(string) }
    }

    /// A nested record.
    package mutating func writeRecord(_ record: some JuteEncodable) throws(ToozError) {
        try record.encode(to: &self)
    }

    private static func length(_ count: Int, of kind: String) throws(ToozError) -> Int32 {
        guard let length = Int32(exactly: count) else {
            throw ToozError(.serializationFailed, "a jute \(kind) of \(count) elements does not fit in a 32-bit length")
        }
        return length
    }
}

extension JuteWriter {
    /// Writes one ZooKeeper frame: a 4-byte big-endian length, then what `body` writes.
    ///
    /// The length is patched in after the body is written, so the body is encoded only once.
    package static func frame(
        allocator: ByteBufferAllocator = ByteBufferAllocator(),
        _ body: (inout JuteWriter) throws(ToozError) -> Void
    ) throws(ToozError) -> ByteBuffer {
        var writer = JuteWriter(buffer: allocator.buffer(capacity: 64))
        let start = writer.buffer.writerIndex
        writer.writeInt(0)
        try body(&writer)
        let bodyLength = writer.buffer.writerIndex - start - 4
        guard let length = Int32(exactly: bodyLength) else {
            throw ToozError(.serializationFailed, "a ZooKeeper frame of \(bodyLength) bytes is too large")
        }
        writer.buffer.setInteger(length, at: start, endianness: .big)
        return writer.buffer
    }
}
