import NIOCore

/// Splits a gRPC stream's DATA into messages: each is a 1-byte compression flag, a 4-byte
/// big-endian length and that many bytes. Pure: no I/O, fed whatever the frames carried.
package struct GRPCMessageDeframer: Sendable {
    /// Why the bytes are no gRPC message stream.
    package enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The length prefix announces more than the configured maximum.
        case messageTooLarge(length: Int, limit: Int)
        /// A compressed message: we never ask for compression, so the server must not send any.
        case compressedMessage
        /// A flag byte other than 0 or 1.
        case badFlag(UInt8)

        package var description: String {
            switch self {
            case .messageTooLarge(let length, let limit): "a message of \(length) bytes exceeds the limit of \(limit)"
            case .compressedMessage: "a compressed message, though no compression was negotiated"
            case .badFlag(let flag): "a message flag of \(flag) (only 0 or 1 exist)"
            }
        }
    }

    private var buffer: ByteBuffer?
    /// The largest message accepted, in bytes.
    package let maximumMessageSize: Int

    package init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Whether a message has started and not yet been completed.
    package var hasPartialMessage: Bool { (buffer?.readableBytes ?? 0) > 0 }

    /// Appends `bytes` and returns every message now complete, in order.
    package mutating func append(_ bytes: ByteBuffer) throws(Failure) -> [ByteBuffer] {
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var incoming = bytes
            buffer!.writeBuffer(&incoming)
        }
        var messages: [ByteBuffer] = []
        while let message = try next() { messages.append(message) }
        if let current = buffer, current.readableBytes == 0 { buffer = nil }
        return messages
    }

    private mutating func next() throws(Failure) -> ByteBuffer? {
        guard var current = buffer, current.readableBytes >= 5,
            let flag = current.getInteger(at: current.readerIndex, as: UInt8.self),
            let length = current.getInteger(at: current.readerIndex + 1, as: UInt32.self)
        else { return nil }
        switch flag {
        case 0: break
        case 1: throw .compressedMessage
        default: throw .badFlag(flag)
        }
        guard Int(length) <= maximumMessageSize else {
            throw .messageTooLarge(length: Int(length), limit: maximumMessageSize)
        }
        guard current.readableBytes >= 5 + Int(length) else { return nil }
        current.moveReaderIndex(forwardBy: 5)
        let message = current.readSlice(length: Int(length))!
        buffer = current
        return message
    }

    /// Frames `message` for sending: flag 0 (uncompressed), length, bytes.
    package static func frame(_ message: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: message.count + 5)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.count))
        framed.writeBytes(message)
        return framed
    }
}
