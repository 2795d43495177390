import NIOCore
import Tooz

/// Reads jute's binary encoding (ZooKeeper's `BinaryInputArchive`) from one complete frame.
///
/// Every read checks the bytes that are actually left before it reserves anything, so a corrupt
/// or hostile length or count fails with a `ToozError` instead of allocating or crashing. Any
/// failure means the reply is unusable: the connection must be dropped (ZooKeeper streams cannot
/// be resynchronised).
package struct JuteReader {
    /// The bytes not read yet.
    package var buffer: ByteBuffer

    package init(buffer: ByteBuffer) {
        self.buffer = buffer
    }

    /// Whether every byte has been read.
    package var isAtEnd: Bool { self.buffer.readableBytes == 0 }

    package mutating func readInt() throws(ToozError) -> Int32 {
        guard let value = self.buffer.readInteger(endianness: .big, as: Int32.self) else {
            throw Self.truncated("int")
        }
        return value
    }

    package mutating func readLong() throws(ToozError) -> Int64 {
        guard let value = self.buffer.readInteger(endianness: .big, as: Int64.self) else {
            throw Self.truncated("long")
        }
        return value
    }

    package mutating func readBool() throws(ToozError) -> Bool {
        guard let byte = self.buffer.readInteger(as: UInt8.self) else {
            throw Self.truncated("boolean")
        }
        // Java's DataInput.readBoolean: any non-zero byte is true.
        return byte != 0
    }

    /// A jute `buffer`; length `-1` reads as `nil`.
    package mutating func readBuffer() throws(ToozError) -> [UInt8]? {
        guard let length = try self.readLength(of: "buffer") else { return nil }
        guard let bytes = self.buffer.readBytes(length: length) else {
            throw Self.truncated("buffer of \(length) bytes")
        }
        return bytes
    }

    /// A jute `ustring`; length `-1` reads as `nil`. Invalid UTF-8 is an error.
    package mutating func readString() throws(ToozError) -> String? {
        guard let length = try self.readLength(of: "string") else { return nil }
        guard let bytes = self.buffer.readBytes(length: length) else {
            throw Self.truncated("string of \(length) bytes")
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw ToozError(.backendError, "malformed ZooKeeper reply: a string is not valid UTF-8")
        }
        return string
    }

    /// A `ustring` that the protocol never sends as null; null reads as the empty string, as
    /// the Java client's records do.
    package mutating func readNonNullString() throws(ToozError) -> String {
        try self.readString() ?? ""
    }

    /// A jute `vector`; count `-1` reads as `nil`.
    ///
    /// - Parameter minimumElementSize: the fewest bytes one element can take, so that a count
    ///   larger than the frame can hold fails before anything is reserved.
    package mutating func readVector<Element>(
        minimumElementSize: Int,
        _ readElement: (inout JuteReader) throws(ToozError) -> Element
    ) throws(ToozError) -> [Element]? {
        let count = try self.readInt()
        if count == -1 { return nil }
        guard count >= 0 else {
            throw ToozError(.backendError, "malformed ZooKeeper reply: negative vector count \(count)")
        }
        guard Int(count) <= self.buffer.readableBytes / max(minimumElementSize, 1) else {
            throw ToozError(
                .backendError,
                "malformed ZooKeeper reply: a vector of \(count) elements does not fit in the \(self.buffer.readableBytes) bytes left"
            )
        }
        var elements: [Element] = []
        elements.reserveCapacity(Int(count))
        for _ in 0..<count {
            elements.append(try readElement(&self))
        }
        return elements
    }

    /// A `vector<ustring>` (each element at least its 4-byte length).
    package mutating func readStringVector() throws(ToozError) -> [String]? {
        try self.readVector(minimumElementSize: 4) { (reader) throws(ToozError) in try reader.readNonNullString() }
    }

    /// A nested record.
    package mutating func readRecord<Record: JuteDecodable>(_: Record.Type = Record.self) throws(ToozError) -> Record {
        try Record(from: &self)
    }

    /// Fails when bytes are left over: a record that does not use its whole frame was
    /// misread, and its fields cannot be trusted.
    package func expectEnd(of what: String) throws(ToozError) {
        guard self.isAtEnd else {
            throw ToozError(
                .backendError,
                "malformed ZooKeeper reply: \(self.buffer.readableBytes) unexpected bytes after the \(what)"
            )
        }
    }

    private mutating func readLength(of kind: String) throws(ToozError) -> Int? {
        let length = try self.readInt()
        if length == -1 { return nil }
        guard length >= 0 else {
            throw ToozError(.backendError, "malformed ZooKeeper reply: negative \(kind) length \(length)")
        }
        guard Int(length) <= self.buffer.readableBytes else {
            throw Self.truncated("\(kind) of \(length) bytes")
        }
        return Int(length)
    }

    private static func truncated(_ what: String) -> ToozError {
        ToozError(.backendError, "malformed ZooKeeper reply: truncated \(what)")
    }
}
