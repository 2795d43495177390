import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing

@testable import ToozEtcd

@Suite("gRPC message framing")
struct GRPCMessageDeframerTests {
    private let allocator = ByteBufferAllocator()

    @Test func framesAndSplitsMessagesAcrossChunks() throws {
        var wire = GRPCMessageDeframer.frame([1, 2, 3], allocator: allocator)
        var second = GRPCMessageDeframer.frame([], allocator: allocator)
        wire.writeBuffer(&second)
        #expect(Array(wire.readableBytesView) == [0, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0])

        var deframer = GRPCMessageDeframer(maximumMessageSize: 16)
        let first = try deframer.append(wire.getSlice(at: 0, length: 6)!)
        #expect(first.isEmpty)
        #expect(deframer.hasPartialMessage)
        let rest = try deframer.append(wire.getSlice(at: 6, length: wire.readableBytes - 6)!)
        #expect(rest.map { Array($0.readableBytesView) } == [[1, 2, 3], []])
        #expect(!deframer.hasPartialMessage)
    }

    @Test func refusesCompressedOversizedAndUnknownFlags() {
        var deframer = GRPCMessageDeframer(maximumMessageSize: 4)
        #expect(throws: GRPCMessageDeframer.Failure.compressedMessage) {
            try deframer.append(ByteBuffer(bytes: [1, 0, 0, 0, 1, 9]))
        }
        deframer = GRPCMessageDeframer(maximumMessageSize: 4)
        #expect(throws: GRPCMessageDeframer.Failure.messageTooLarge(length: 5, limit: 4)) {
            try deframer.append(ByteBuffer(bytes: [0, 0, 0, 0, 5]))
        }
        deframer = GRPCMessageDeframer(maximumMessageSize: 4)
        #expect(throws: GRPCMessageDeframer.Failure.badFlag(7)) {
            try deframer.append(ByteBuffer(bytes: [7, 0, 0, 0, 0]))
        }
    }
}

@Suite("gRPC response parser")
struct GRPCResponseParserTests {
    private func headers(_ pairs: [(String, String)], endStream: Bool = false) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: HPACKHeaders(pairs), endStream: endStream))
    }

    private func data(_ bytes: [UInt8], endStream: Bool = false) -> HTTP2Frame.FramePayload {
        .data(.init(data: .byteBuffer(ByteBuffer(bytes: bytes)), endStream: endStream))
    }

    private let ok = [(":status", "200"), ("content-type", "application/grpc")]

    @Test func aNormalCallYieldsItsMessageThenOk() {
        var parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        #expect(parser.receive(headers(ok)).isEmpty)
        #expect(parser.receive(data([0, 0, 0, 0, 2, 8, 1])) == [.message(ByteBuffer(bytes: [8, 1]))])
        #expect(parser.receive(headers([("grpc-status", "0")], endStream: true)) == [.end(GRPCStatus(.ok, ""))])
        #expect(parser.hasEnded)
        #expect(parser.receive(data([0, 0, 0, 0, 0])).isEmpty)
    }

    @Test func aTrailersOnlyErrorCarriesTheDecodedMessage() {
        var parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        let events = parser.receive(
            headers(ok + [("grpc-status", "5"), ("grpc-message", "etcdserver: requested lease not found%21")], endStream: true)
        )
        #expect(events == [.end(GRPCStatus(.notFound, "etcdserver: requested lease not found!"))])
    }

    @Test func peersThatAreNotGRPCAreTold() {
        var parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        #expect(parser.receive(headers([(":status", "404")])) == [.end(GRPCStatus(.unimplemented, "the server answered HTTP 404, not gRPC"))])

        parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        let events = parser.receive(headers([(":status", "200"), ("content-type", "text/html")]))
        guard case .end(let status) = events.first else {
            Issue.record("expected an end, got \(events)")
            return
        }
        #expect(status.code == .internal)
        #expect(status.message.contains("text/html"))
    }

    @Test func brokenStreamsEndWithAnError() {
        var parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        _ = parser.receive(headers(ok))
        let truncated = parser.receive(data([0, 0, 0, 0, 9, 1], endStream: true))
        #expect(truncated.count == 1)
        if case .end(let status) = truncated.first { #expect(status.code == .internal) }

        parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        #expect(parser.receive(.rstStream(.refusedStream)) == [.end(GRPCStatus(.unavailable, "the server reset the stream (\(HTTP2ErrorCode.refusedStream))"))])

        parser = GRPCResponseParser(maximumMessageSize: 1 << 20)
        let early = parser.receive(data([0, 0, 0, 0, 0]))
        if case .end(let status) = early.first { #expect(status.code == .internal) } else { Issue.record("expected an end") }
    }

    @Test func percentDecodingKeepsMalformedEscapes() {
        #expect(GRPCStatus.percentDecoded("a%20b%zz%4") == "a b%zz%4")
        #expect(GRPCStatus.percentDecoded("caf%C3%A9") == "café")
    }
}
