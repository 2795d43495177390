import NIOCore
import NIOEmbedded
import Testing
import Tooz

@testable import ToozZooKeeper

@Suite("ZooKeeper frame decoder")
struct ZooKeeperFrameDecoderTests {
    private let frames: [[UInt8]] = [
        JuteBytes().int(-2).long(0x10).int(0).bytes,  // a ping reply
        [],  // an empty frame is legal at this layer
        JuteBytes().int(-1).long(-1).int(0).int(4).int(3).string("/tooz/g").bytes,
        [UInt8](repeating: 0xab, count: 300),
    ]

    private var stream: [UInt8] { self.frames.flatMap { JuteBytes().raw($0).framed } }

    private func decodeAll(_ chunks: [[UInt8]], decoder: ZooKeeperFrameDecoder = ZooKeeperFrameDecoder()) throws -> [[UInt8]] {
        let processor = NIOSingleStepByteToMessageProcessor(decoder)
        var output: [[UInt8]] = []
        for chunk in chunks {
            try processor.process(buffer: ByteBuffer(bytes: chunk)) { frame in
                output.append(Array(frame.readableBytesView))
            }
        }
        return output
    }

    @Test("Coalesced input yields every frame without its prefix")
    func coalesced() throws {
        #expect(try decodeAll([stream]) == frames)
    }

    @Test("Input fed one byte at a time yields the same frames")
    func dripFed() throws {
        #expect(try decodeAll(stream.map { [$0] }) == frames)
    }

    @Test("Input split at every position yields the same frames")
    func everySplit() throws {
        let stream = self.stream
        for split in 0...stream.count {
            #expect(try decodeAll([Array(stream[..<split]), Array(stream[split...])]) == frames)
        }
    }

    @Test("An incomplete frame is left in the buffer")
    func incomplete() throws {
        var decoder = ZooKeeperFrameDecoder()
        var buffer = ByteBuffer(bytes: JuteBytes().int(10).raw([1, 2, 3]).bytes)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 7)
        buffer = ByteBuffer(bytes: [0, 0])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 2)
    }

    @Test("A negative length is an error")
    func negativeLength() {
        var decoder = ZooKeeperFrameDecoder()
        var buffer = ByteBuffer(bytes: JuteBytes().int(-1).bytes)
        let error = #expect(throws: ToozError.self) { _ = try decoder.decode(buffer: &buffer) }
        #expect(error?.code == .backendError)
    }

    @Test("A frame above the limit is refused from its length alone")
    func oversized() throws {
        var decoder = ZooKeeperFrameDecoder(maximumFrameLength: 16)
        var buffer = ByteBuffer(bytes: JuteBytes().int(17).bytes)
        let error = #expect(throws: ToozError.self) { _ = try decoder.decode(buffer: &buffer) }
        #expect(error?.code == .backendError)
        var defaultDecoder = ZooKeeperFrameDecoder()
        buffer = ByteBuffer(bytes: JuteBytes().int(.max).bytes)
        #expect(throws: ToozError.self) { _ = try defaultDecoder.decode(buffer: &buffer) }
        var exact = ZooKeeperFrameDecoder(maximumFrameLength: 3)
        buffer = ByteBuffer(bytes: JuteBytes().int(3).raw([1, 2, 3]).bytes)
        #expect(try exact.decode(buffer: &buffer).map { Array($0.readableBytesView) } == [1, 2, 3])
    }

    @Test("In a channel pipeline: frames out, a bad length closes with an error")
    func pipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(ZooKeeperFrameDecoder(maximumFrameLength: 1024)))
        for byte in stream {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        var received: [[UInt8]] = []
        while let frame = try channel.readInbound(as: ByteBuffer.self) {
            received.append(Array(frame.readableBytesView))
        }
        #expect(received == frames)
        let error = #expect(throws: ToozError.self) {
            try channel.writeInbound(ByteBuffer(bytes: JuteBytes().int(2048).bytes))
        }
        #expect(error?.code == .backendError)
        _ = try? channel.finish()
    }
}
