import NIOCore
import Tooz

/// Splits the byte stream from a ZooKeeper server into frames: a 4-byte big-endian length, then
/// that many bytes. Each frame is returned without its length prefix.
///
/// A negative length, or one above ``maximumFrameLength``, throws a `ToozError`
/// (`backendError`) before anything is buffered for it: the stream is then unusable and the
/// connection must be closed.
package struct ZooKeeperFrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    /// The Java client's default `jute.maxbuffer` for replies (4 MiB).
    package static let defaultMaximumFrameLength = 4 * 1024 * 1024

    /// The largest frame accepted, in bytes, not counting the length prefix.
    package var maximumFrameLength: Int

    package init(maximumFrameLength: Int = ZooKeeperFrameDecoder.defaultMaximumFrameLength) {
        self.maximumFrameLength = maximumFrameLength
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return nil
        }
        guard length >= 0 else {
            throw ToozError(.backendError, "malformed ZooKeeper frame: negative length \(length)")
        }
        guard Int(length) <= self.maximumFrameLength else {
            throw ToozError(
                .backendError,
                "ZooKeeper frame of \(length) bytes exceeds the limit of \(self.maximumFrameLength) bytes"
            )
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try self.decode(buffer: &buffer)
    }
}
