import NIOCore

/// Decodes meta-protocol replies into ``MemcachedResponse``s, one complete reply per call.
///
/// The decoder is pure: a short input leaves the buffer untouched and returns `nil` until the
/// rest arrives. The value size is checked against ``Limits`` before anything is read, so a
/// broken or hostile peer cannot make the client wait for, or allocate, more than that.
/// Anything that is not a reply (an HTTP status line, a text-protocol `VALUE`) throws
/// ``MemcachedDecodingError``; the stream is then unusable and the connection must be closed.
package struct MemcachedDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = MemcachedResponse

    /// Bounds on what the decoder accepts.
    package struct Limits: Sendable, Hashable {
        /// The longest reply line before its `\r\n`, in bytes.
        package var maximumLineLength: Int
        /// The largest value, in bytes. memcached's default item limit is 1 MiB; the slack
        /// covers servers started with a slightly larger `-I`.
        package var maximumValueLength: Int

        package init(maximumLineLength: Int = 8 * 1024, maximumValueLength: Int = 1024 * 1024 + 64 * 1024) {
            self.maximumLineLength = maximumLineLength
            self.maximumValueLength = maximumValueLength
        }
    }

    /// The limits this decoder enforces.
    package var limits: Limits

    package init(limits: Limits = Limits()) {
        self.limits = limits
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> MemcachedResponse? {
        let start = buffer.readerIndex
        guard let response = try self.parseResponse(from: &buffer) else {
            // A value's line is parsed again once its data is complete; the line limit bounds the cost.
            buffer.moveReaderIndex(to: start)
            return nil
        }
        return response
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MemcachedResponse? {
        try self.decode(buffer: &buffer)
    }
}

// MARK: - Parsing

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")

extension MemcachedDecoder {
    /// What a reply line's first token says.
    private enum Head {
        case value
        case status(MemcachedResponse.Status)
        case serverError
        case clientError
        case error
        case unknown
    }

    /// The space-separated tokens of a reply line, in order, without allocating: this runs for
    /// every reply.
    private struct Tokens {
        let bytes: ByteBufferView
        var index: ByteBufferView.Index

        init(_ bytes: ByteBufferView) {
            self.bytes = bytes
            self.index = bytes.startIndex
        }

        mutating func next() -> ByteBufferView.SubSequence? {
            while index < bytes.endIndex, bytes[index] == space { index += 1 }
            guard index < bytes.endIndex else { return nil }
            let start = index
            while index < bytes.endIndex, bytes[index] != space { index += 1 }
            return bytes[start..<index]
        }
    }

    private func parseResponse(from buffer: inout ByteBuffer) throws -> MemcachedResponse? {
        guard let line = try self.readLine(from: &buffer) else { return nil }
        let bytes = line.readableBytesView
        var tokens = Tokens(bytes)
        guard let head = tokens.next() else {
            throw MemcachedDecodingError(.invalidStatus, "empty reply line")
        }

        let status: MemcachedResponse.Status
        switch Self.head(head) {
        case .value:
            guard let sizeToken = tokens.next() else {
                throw MemcachedDecodingError(.invalidSize, "VA reply without a size")
            }
            let size = try self.parseSize(sizeToken)
            guard buffer.readableBytes >= size + 2 else { return nil }
            let value = buffer.readBytes(length: size)!
            guard buffer.readInteger(as: UInt8.self) == cr, buffer.readInteger(as: UInt8.self) == lf else {
                throw MemcachedDecodingError(.missingCRLF, "a \(size)-byte value is not followed by CRLF")
            }
            var response = MemcachedResponse(.value, value: value)
            try Self.parseFlags(&tokens, into: &response)
            return response
        case .status(let known): status = known
        case .serverError:
            return MemcachedResponse(.serverError(Self.rest(of: bytes, after: head)))
        case .clientError:
            return MemcachedResponse(.clientError(Self.rest(of: bytes, after: head)))
        case .error:
            return MemcachedResponse(.error)
        case .unknown:
            // Quote only a short, printable prefix: enough to recognise "HTTP/1.1", never a payload.
            let prefix = String(decoding: head.prefix(16).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            throw MemcachedDecodingError(.invalidStatus, "reply line starts with \"\(prefix)\", which is no meta-protocol status")
        }
        var response = MemcachedResponse(status)
        try Self.parseFlags(&tokens, into: &response)
        return response
    }

    /// The status of a first token, by its bytes (no string is built for it).
    private static func head(_ token: ByteBufferView.SubSequence) -> Head {
        if token.count == 2 {
            let first = token[token.startIndex]
            let second = token[token.index(after: token.startIndex)]
            switch (first, second) {
            case (UInt8(ascii: "V"), UInt8(ascii: "A")): return .value
            case (UInt8(ascii: "H"), UInt8(ascii: "D")): return .status(.stored)
            case (UInt8(ascii: "N"), UInt8(ascii: "F")): return .status(.notFound)
            case (UInt8(ascii: "N"), UInt8(ascii: "S")): return .status(.notStored)
            case (UInt8(ascii: "E"), UInt8(ascii: "X")): return .status(.exists)
            case (UInt8(ascii: "E"), UInt8(ascii: "N")): return .status(.miss)
            case (UInt8(ascii: "M"), UInt8(ascii: "N")): return .status(.noop)
            default: return .unknown
            }
        }
        if token.elementsEqual("SERVER_ERROR".utf8) { return .serverError }
        if token.elementsEqual("CLIENT_ERROR".utf8) { return .clientError }
        if token.elementsEqual("ERROR".utf8) { return .error }
        return .unknown
    }

    private static func rest(of line: ByteBufferView, after head: ByteBufferView.SubSequence) -> String {
        let tail = line[head.endIndex...].drop(while: { $0 == space })
        return String(decoding: tail, as: UTF8.self)
    }

    /// Reads the return flags this client uses; others (`k`, `O`, `s`, `b`, ...) are skipped.
    private static func parseFlags(_ tokens: inout Tokens, into response: inout MemcachedResponse) throws {
        while let token = tokens.next() {
            guard let letter = token.first else { continue }
            let argument = token.dropFirst()
            switch letter {
            case UInt8(ascii: "f"):
                guard let number = parseUnsigned(argument), let flags = UInt32(exactly: number) else {
                    throw MemcachedDecodingError(.invalidFlag, "client flags (f) are not a 32-bit decimal")
                }
                response.clientFlags = flags
            case UInt8(ascii: "c"):
                guard let cas = parseUnsigned(argument) else {
                    throw MemcachedDecodingError(.invalidFlag, "CAS token (c) is not a 64-bit decimal")
                }
                response.cas = cas
            case UInt8(ascii: "t"):
                if argument.elementsEqual("-1".utf8) {
                    response.ttl = -1
                } else if let seconds = parseUnsigned(argument), let ttl = Int(exactly: seconds) {
                    response.ttl = ttl
                } else {
                    throw MemcachedDecodingError(.invalidFlag, "TTL (t) is neither -1 nor a decimal")
                }
            default:
                continue
            }
        }
    }

    private func parseSize(_ token: ByteBufferView.SubSequence) throws -> Int {
        guard let size = Self.parseUnsigned(token) else {
            throw MemcachedDecodingError(.invalidSize, "VA size is not a non-negative decimal")
        }
        guard size <= UInt64(self.limits.maximumValueLength) else {
            throw MemcachedDecodingError(.tooLarge, "value of \(size) bytes exceeds the limit of \(self.limits.maximumValueLength)")
        }
        return Int(size)
    }

    /// Plain ASCII digits into a `UInt64`; `nil` for anything else, an empty token or an overflow.
    private static func parseUnsigned(_ digits: ByteBufferView.SubSequence) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    /// Reads up to `\r\n` and returns the bytes before it; `nil` if the terminator has not arrived.
    /// A lone `\r` or `\n` inside a line is malformed.
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
                        throw MemcachedDecodingError(.missingCRLF, "CR in a reply line is not followed by LF")
                    }
                    return index
                case lf:
                    throw MemcachedDecodingError(.missingCRLF, "reply line ends in a bare LF")
                default:
                    index += 1
                }
            }
            if bytes.count > maximum {
                throw MemcachedDecodingError(.tooLarge, "reply line longer than \(maximum) bytes")
            }
            return nil
        }
        guard let lineLength else { return nil }
        let line = buffer.readSlice(length: lineLength)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}
